// Shows a RoomSession in a RoomView: an editor on the shared text, and the room's state
// (connection, who is online, participants, language, its end) now and as it changes. The
// one wiring of session to view, for the notebook widget, the room page and views to come.
import { RoomEditor } from "./editor";
import type { RoomSession } from "./session";
import type { RoomView } from "./view";

export interface SessionBinding {
  readonly editor: RoomEditor;
  /** Stop showing the session in the view; the session itself goes on. */
  unbind(): void;
}

export function bindSession(session: RoomSession, view: RoomView): SessionBinding {
  const editor = new RoomEditor(session, view.editorHost);
  view.onLanguagePicked = (id) => session.setLanguage(id);
  view.setAccess(session.access);
  view.setLanguage(session.language);
  view.setParticipants(session.participants);
  view.setOnline(session.onlinePeople);
  if (session.ended) view.showError(session.ended, true);
  else view.setStatus(session.status, session.unsaved);
  const stop = session.subscribe({
    status: (status, unsaved) => view.setStatus(status, unsaved),
    onlinePeople: (people) => view.setOnline(people),
    participants: (names) => view.setParticipants(names),
    language: (id) => view.setLanguage(id),
    ended: (reason) => view.showError(reason, true),
  });
  return {
    editor,
    unbind: () => {
      stop();
      view.onLanguagePicked = () => undefined;
      editor.destroy();
    },
  };
}
