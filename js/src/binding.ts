// Shows a RoomSession in a RoomView: an editor on the shared text, and the room's state
// (connection, who is online, participants, language, its end) now and as it changes. The
// one wiring of session to view, for the notebook widget, the room page and views to come.
import { RoomEditor } from "./editor";
import { Follower } from "./follow";
import type { RoomSession } from "./session";
import type { RoomView } from "./view";

export interface SessionBinding {
  readonly editor: RoomEditor;
  /** Stop showing the session in the view; the session itself goes on. */
  unbind(): void;
}

export function bindSession(session: RoomSession, view: RoomView): SessionBinding {
  const editor = new RoomEditor(session, view.editorHost);
  // Follow mode, per view: presence -> follower -> this editor's scroll and the view's state.
  const follower = new Follower(session.awareness, session.text, session.doc.clientID, {
    reveal: (index) => editor.reveal(index, () => follower.following !== null),
    changed: (name) => view.setFollowing(name),
  });
  view.onFollowClicked = (name) => follower.toggle(name);
  editor.onUserAction = () => follower.stop();
  view.onLanguagePicked = (id) => session.setLanguage(id);
  view.onHandToggled = (raise) => (raise ? session.raiseHand() : session.lowerHand());
  view.onHandCleared = (name) => session.clearHand(name);
  view.setSelf(session.name);
  view.setAccess(session.access);
  view.setLanguage(session.language);
  view.setParticipants(session.participants);
  view.setOnline(session.onlinePeople);
  view.setHands(session.hands);
  if (session.ended) view.showError(session.ended, true);
  else view.setStatus(session.status, session.unsaved);
  const stop = session.subscribe({
    status: (status, unsaved) => view.setStatus(status, unsaved),
    onlinePeople: (people) => view.setOnline(people),
    participants: (names) => view.setParticipants(names),
    language: (id) => view.setLanguage(id),
    hands: (hands) => view.setHands(hands),
    ended: (reason) => view.showError(reason, true),
  });
  return {
    editor,
    unbind: () => {
      stop();
      follower.destroy();
      view.setFollowing(null);
      view.onLanguagePicked = () => undefined;
      view.onFollowClicked = () => undefined;
      view.onHandToggled = () => undefined;
      view.onHandCleared = () => undefined;
      editor.destroy();
    },
  };
}
