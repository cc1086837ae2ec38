// The room's chrome around the editor: status, room id, copy-link, language menu, people,
// errors and the guest name prompt. Every user-supplied string goes in as text, never HTML.
import type { Access } from "./api";
import { element } from "./dom";
import { LANGUAGES, isLanguage } from "./languages";
import type { ConnectionStatus, OnlinePerson, RaisedHand } from "./session";

/** At most this many raised hands are drawn (the names come from other peers). */
export const MAX_HANDS_SHOWN = 50;
const HAND = "\u270b"; // ✋

const STATUS_LABELS: Record<ConnectionStatus, string> = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

export class RoomView {
  readonly root = element("div", "cc-room");
  readonly editorHost = element("div", "cc-editor");
  private readonly status = element("span", "cc-status", STATUS_LABELS.connecting);
  private readonly roomLabel = element("span", "cc-room-id");
  private readonly badge = element("span", "cc-badge", "View only");
  private readonly copyButton = element("button", "cc-copy", "Copy link");
  private readonly copyViewButton = element("button", "cc-copy-view", "Copy view-only link");
  private readonly languageMenu = element("select", "cc-language");
  private readonly handButton = element("button", "cc-hand", `${HAND} Raise hand`);
  /** Raised hands: "Ana needs help", each with a Clear button for those who may edit. */
  private readonly handsBanner = element("div", "cc-hands");
  /** "Following Ana · click to stop", over the editor while follow mode is on. */
  private readonly followHint = element("button", "cc-follow-hint");
  private readonly online = element("ul", "cc-online");
  private readonly participants = element("ul", "cc-participants");
  private readonly error = element("div", "cc-error");
  /** What the room waits for (not an error: it ends by itself). */
  private readonly notice = element("div", "cc-notice");
  private readonly body = element("div", "cc-body");
  private link = "";
  private viewLink = "";
  private readonly copyTimers = new Map<HTMLButtonElement, number>();
  private onlinePeople: OnlinePerson[] = [];
  private participantNames: string[] = [];
  /** Name -> when they raised their hand. */
  private raised = new Map<string, string>();
  private self = "";
  private followed: string | null = null;
  /** What each list shows now: redrawn only when it changes (a focused button stays). */
  private readonly drawn = new Map<HTMLElement, string>();
  /** Called when the user picks a language in the menu (binding.ts passes it on). */
  onLanguagePicked: (id: string) => void = () => undefined;
  /** Called when the user clicks another person's name in the Online list (follow.ts). */
  onFollowClicked: (name: string) => void = () => undefined;
  /** Called with true to raise the user's hand, false to lower it. */
  onHandToggled: (raise: boolean) => void = () => undefined;
  /** Called when the user clears someone's raised hand. */
  onHandCleared: (name: string) => void = () => undefined;

  constructor(host: HTMLElement) {
    // Keys typed in the room belong to the room, never to notebook shortcuts
    // (Lumino skips elements marked like this; stopping the event covers the rest).
    this.root.dataset.lmSuppressShortcuts = "true";
    this.root.addEventListener("keydown", (event) => event.stopPropagation());

    const toolbar = element("div", "cc-toolbar");
    this.status.dataset.status = "connecting";
    this.copyButton.type = "button";
    this.copyButton.disabled = true;
    this.copyButton.title = "Copy the link that opens this room";
    this.copyButton.addEventListener("click", () => void this.copy(this.copyButton, this.link));
    this.copyViewButton.type = "button";
    this.copyViewButton.hidden = true;
    this.copyViewButton.title = "Copy a link that lets people watch this room without editing";
    this.copyViewButton.addEventListener(
      "click",
      () => void this.copy(this.copyViewButton, this.viewLink),
    );
    this.badge.hidden = true;
    this.badge.title = "You can watch this room, not edit it";
    this.languageMenu.title = "Language of this room (changes it for everyone)";
    this.languageMenu.setAttribute("aria-label", "Room language");
    for (const [id, info] of LANGUAGES) {
      const option = element("option", "", info.label);
      option.value = id;
      this.languageMenu.append(option);
    }
    this.languageMenu.addEventListener("change", () =>
      this.onLanguagePicked(this.languageMenu.value),
    );
    this.handButton.type = "button";
    this.handButton.hidden = true;
    this.handButton.setAttribute("aria-pressed", "false");
    this.handButton.title = "Tell everyone in the room that you need help";
    this.handButton.addEventListener("click", () =>
      this.onHandToggled(!this.raised.has(this.self)),
    );
    this.handsBanner.hidden = true;
    this.handsBanner.setAttribute("role", "status");
    this.followHint.type = "button";
    this.followHint.hidden = true;
    this.followHint.addEventListener("click", () => {
      if (this.followed !== null) this.onFollowClicked(this.followed);
    });
    toolbar.append(
      this.status,
      this.roomLabel,
      this.badge,
      element("span", "cc-spacer"),
      this.handButton,
      this.languageMenu,
      this.copyButton,
      this.copyViewButton,
    );

    const people = element("aside", "cc-people");
    people.append(element("h4", "", "Online"), this.online, element("h4", "", "Participants"), this.participants);
    this.body.append(this.editorHost, people, this.followHint);
    this.error.hidden = true;
    this.error.setAttribute("role", "alert");
    this.notice.hidden = true;
    this.notice.setAttribute("role", "status");
    this.root.append(toolbar, this.error, this.notice, this.handsBanner, this.body);
    host.append(this.root);
  }

  /** Show the room; `link` is what "Copy link" copies, `viewLink` (if any) a view-only link. */
  setRoom(roomId: string, link: string, viewLink = ""): void {
    this.roomLabel.textContent = "";
    this.roomLabel.append("Room ", element("code", "", roomId));
    this.link = link;
    this.copyButton.disabled = !link;
    this.viewLink = viewLink && viewLink !== link ? viewLink : "";
    this.copyViewButton.hidden = !this.viewLink;
  }

  /** Edit, or view only: a visible badge, and no language menu to change. */
  setAccess(access: Access): void {
    const viewOnly = access === "view";
    this.root.dataset.access = access;
    this.badge.hidden = !viewOnly;
    this.languageMenu.disabled = viewOnly;
    this.drawHands();
    this.languageMenu.title = viewOnly
      ? "Language of this room (view-only link: you cannot change it)"
      : "Language of this room (changes it for everyone)";
  }

  /** The connection, and whether your edits are on the server's disk: "Saved" only once
   * the server has sent every one of them back (saved.ts). */
  setStatus(status: ConnectionStatus, unsavedEdits: number): void {
    this.status.dataset.status = status;
    this.status.dataset.saved = String(unsavedEdits === 0);
    const edits = `${unsavedEdits} edit${unsavedEdits === 1 ? "" : "s"}`;
    if (status !== "connected") {
      this.status.textContent =
        STATUS_LABELS[status] + (unsavedEdits > 0 ? ` · ${edits} not saved` : "");
      this.status.title =
        unsavedEdits > 0 ? "Kept here, and sent again when the connection is back" : "";
    } else if (this.root.dataset.access === "view") {
      this.status.textContent = STATUS_LABELS.connected;
      this.status.title = "";
    } else {
      this.status.textContent = unsavedEdits > 0 ? "Saving…" : "Saved";
      this.status.title =
        unsavedEdits > 0 ? `${edits} on the way to the server` : "Your edits are on the server";
    }
  }

  setLanguage(id: string): void {
    this.languageMenu.value = isLanguage(id) ? id : "plaintext";
  }

  /** Who is online, each with a dot in their caret's colour; others' names are buttons
   * that follow them. */
  setOnline(people: OnlinePerson[]): void {
    this.onlinePeople = people;
    this.drawPeople();
  }

  setParticipants(names: string[]): void {
    this.participantNames = names;
    this.drawPeople();
  }

  /** The user's own name (not followable; their hand is the toolbar button's). */
  setSelf(name: string): void {
    this.self = name;
    this.drawPeople();
    this.drawHands();
  }

  /** Whom the user follows (follow.ts), or null. */
  setFollowing(name: string | null): void {
    this.followed = name;
    this.drawPeople();
    const hint = this.followHint;
    hint.hidden = name === null;
    delete this.root.dataset.following;
    if (name === null) {
      hint.textContent = "";
      return;
    }
    this.root.dataset.following = "true";
    const color = this.onlinePeople.find((person) => person.name === name)?.color ?? "";
    hint.style.borderColor = color;
    hint.textContent = "";
    const who = element("span", "cc-follow-who", name);
    who.style.borderColor = color;
    hint.append("Following ", who, " \u00b7 click to stop");
    hint.title = `Your view scrolls with ${name}'s cursor until you type or click in the editor`;
  }

  /** Raised hands, oldest first (session.ts). */
  setHands(hands: RaisedHand[]): void {
    this.raised = new Map(hands.map(({ name, since }) => [name, since]));
    this.drawPeople();
    this.drawHands();
  }

  setHeight(pixels: number): void {
    this.body.style.height = `${Math.max(120, pixels)}px`;
  }

  /** Say why the room cannot be used; without a session there is no editor to show. */
  showError(message: string, hasEditor: boolean): void {
    this.hideNotice();
    this.error.textContent = message;
    this.error.hidden = false;
    this.status.dataset.status = "error";
    this.status.textContent = "Not connected";
    this.body.hidden = !hasEditor;
    // Without a room there is no language to pick and no link to copy.
    this.root.dataset.noRoom = String(!hasEditor);
  }

  clearError(): void {
    this.error.hidden = true;
    delete this.root.dataset.noRoom;
  }

  /** Say why the room is not open yet, while something retries: a notice, not an error (it
   * ends by itself), so not in the error box's colours; `waitingOver` takes it away. */
  showWaiting(message: string): void {
    this.notice.textContent = message;
    this.notice.hidden = false;
    this.root.dataset.waiting = "true";
    this.root.dataset.noRoom = "true";
    this.body.hidden = true;
    this.status.dataset.status = "connecting";
    this.status.textContent = "Waiting for the server…";
  }

  waitingOver(): void {
    if (this.root.dataset.waiting === undefined) return;
    this.hideNotice();
    delete this.root.dataset.noRoom;
    this.body.hidden = false;
    this.setStatus("connecting", 0);
  }

  private hideNotice(): void {
    this.notice.hidden = true;
    this.notice.textContent = "";
    delete this.root.dataset.waiting;
  }

  /**
   * Ask a guest for their name in place of the editor (the original's name prompt). Aborting
   * `signal` takes the prompt away (someone answered elsewhere) and leaves the promise pending.
   */
  askName(initial = "", signal?: AbortSignal): Promise<string> {
    const form = element("form", "cc-name-prompt");
    const label = element("label", "", "Your name, as others will see it");
    const input = element("input", "cc-name-input");
    input.required = true;
    input.maxLength = 64;
    input.placeholder = "e.g. Ada";
    input.value = initial;
    input.setAttribute("autocomplete", "nickname");
    const submit = element("button", "cc-join", "Join room");
    submit.type = "submit";
    label.append(input);
    form.append(label, submit);
    this.body.hidden = true;
    this.root.append(form);
    this.status.dataset.status = "connecting";
    this.status.textContent = "Not joined yet";
    setTimeout(() => {
      input.focus();
      input.select();
    }, 0);
    const close = () => {
      form.remove();
      this.body.hidden = false;
      this.setStatus("connecting", 0);
    };
    signal?.addEventListener("abort", close, { once: true });
    return new Promise((resolve) => {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const name = input.value.trim();
        if (!name) return;
        signal?.removeEventListener("abort", close);
        close();
        resolve(name);
      });
    });
  }

  private drawPeople(): void {
    this.fillPeople(this.online, this.onlinePeople, true);
    this.fillPeople(this.participants, this.participantNames.map((name) => ({ name })), false);
  }

  /** One item per person; a dot before the name for those given a colour (a hex colour:
   * session.ts makes it with colors.ts personColor), a hand after it if raised. In the
   * Online list, everyone else's name is a button that follows them. */
  private fillPeople(
    list: HTMLElement,
    people: { name: string; color?: string }[],
    followable: boolean,
  ): void {
    const shown = people.map(({ name, color }) => ({
      name,
      color,
      button: followable && name !== this.self,
      followed: followable && name === this.followed,
      hand: this.raised.has(name),
    }));
    const key = JSON.stringify(shown);
    if (this.drawn.get(list) === key) return;
    this.drawn.set(list, key);
    list.replaceChildren(
      ...shown.map(({ name, color, button, followed, hand }) => {
        const item = element("li", "cc-person");
        if (color !== undefined) {
          const marker = element("span", "cc-dot");
          marker.style.backgroundColor = color;
          item.append(marker);
        }
        if (button) {
          const follow = element("button", "cc-name cc-follow", name);
          follow.type = "button";
          follow.setAttribute("aria-pressed", String(followed));
          follow.title = followed
            ? `Following ${name}: click to stop`
            : `Follow ${name}'s cursor (your view scrolls with it)`;
          if (followed && color) follow.style.outlineColor = color;
          follow.addEventListener("click", () => this.onFollowClicked(name));
          item.append(follow);
        } else {
          item.append(element("span", "cc-name", name));
        }
        if (hand) {
          const mark = element("span", "cc-hand-mark", HAND);
          mark.title = `${name} raised a hand`;
          mark.setAttribute("aria-label", "raised a hand");
          item.append(mark);
        }
        return item;
      }),
    );
  }

  /** The toolbar button, and the banner of raised hands (the first MAX_HANDS_SHOWN). */
  private drawHands(): void {
    const mine = this.raised.has(this.self);
    // Only once there is a session (a name) and only for those who may edit.
    this.handButton.hidden = !this.self || this.root.dataset.access === "view";
    this.handButton.textContent = mine ? "Lower hand" : `${HAND} Raise hand`;
    this.handButton.setAttribute("aria-pressed", String(mine));
    this.handButton.title = mine
      ? "Take back your raised hand"
      : "Tell everyone in the room that you need help";
    const hands = [...this.raised.keys()];
    const canClear = this.root.dataset.access !== "view";
    const key = JSON.stringify([hands.slice(0, MAX_HANDS_SHOWN), hands.length, this.self, canClear]);
    if (this.drawn.get(this.handsBanner) === key) return;
    this.drawn.set(this.handsBanner, key);
    this.handsBanner.hidden = hands.length === 0;
    this.handsBanner.replaceChildren(
      ...hands.slice(0, MAX_HANDS_SHOWN).map((name) => {
        const badge = element("span", "cc-hand-badge");
        badge.dataset.name = name;
        const who = name === this.self ? "You" : name;
        badge.append(
          `${HAND} `,
          element("strong", "", who),
          name === this.self ? " asked for help" : " needs help",
        );
        if (canClear) {
          const clear = element("button", "cc-hand-clear", "\u00d7");
          clear.type = "button";
          clear.title = name === this.self ? "Lower your hand" : `Clear ${name}'s raised hand`;
          clear.setAttribute("aria-label", clear.title);
          clear.addEventListener("click", () => this.onHandCleared(name));
          badge.append(clear);
        }
        return badge;
      }),
    );
    if (hands.length > MAX_HANDS_SHOWN) {
      this.handsBanner.append(
        element("span", "cc-hand-more", `and ${hands.length - MAX_HANDS_SHOWN} more`),
      );
    }
  }

  private async copy(button: HTMLButtonElement, text: string): Promise<void> {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API needs a secure context; fall back to a selection copy.
      const field = element("textarea", "cc-copy-buffer");
      field.value = text;
      this.root.append(field);
      field.select();
      document.execCommand("copy");
      field.remove();
    }
    const label = button === this.copyButton ? "Copy link" : "Copy view-only link";
    button.textContent = "Copied!";
    clearTimeout(this.copyTimers.get(button));
    this.copyTimers.set(
      button,
      window.setTimeout(() => (button.textContent = label), 1500),
    );
  }
}
