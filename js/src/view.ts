// The room's chrome around the editor: status, room id, copy-link, language menu, people,
// errors and the guest name prompt. Every user-supplied string goes in as text, never HTML.
import { colorFor } from "./colors";
import { LANGUAGES } from "./languages";
import type { ConnectionStatus } from "./session";

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

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
  private readonly copyButton = element("button", "cc-copy", "Copy link");
  private readonly languageMenu = element("select", "cc-language");
  private readonly online = element("ul", "cc-online");
  private readonly participants = element("ul", "cc-participants");
  private readonly error = element("div", "cc-error");
  private readonly body = element("div", "cc-body");
  private link = "";
  private copyTimer = 0;

  constructor(host: HTMLElement, onLanguage: (id: string) => void) {
    // Keys typed in the room belong to the room, never to notebook shortcuts
    // (Lumino skips elements marked like this; stopping the event covers the rest).
    this.root.dataset.lmSuppressShortcuts = "true";
    this.root.addEventListener("keydown", (event) => event.stopPropagation());

    const toolbar = element("div", "cc-toolbar");
    this.status.dataset.status = "connecting";
    this.copyButton.type = "button";
    this.copyButton.disabled = true;
    this.copyButton.title = "Copy the link that opens this room";
    this.copyButton.addEventListener("click", () => void this.copyLink());
    this.languageMenu.title = "Language of this room (changes it for everyone)";
    this.languageMenu.setAttribute("aria-label", "Room language");
    for (const [id, info] of Object.entries(LANGUAGES)) {
      const option = element("option", "", info.label);
      option.value = id;
      this.languageMenu.append(option);
    }
    this.languageMenu.addEventListener("change", () => onLanguage(this.languageMenu.value));
    toolbar.append(this.status, this.roomLabel, element("span", "cc-spacer"), this.languageMenu, this.copyButton);

    const people = element("aside", "cc-people");
    people.append(element("h4", "", "Online"), this.online, element("h4", "", "Participants"), this.participants);
    this.body.append(this.editorHost, people);
    this.error.hidden = true;
    this.error.setAttribute("role", "alert");
    this.root.append(toolbar, this.error, this.body);
    host.append(this.root);
  }

  setRoom(roomId: string, link: string): void {
    this.roomLabel.textContent = "";
    this.roomLabel.append("Room ", element("code", "", roomId));
    this.link = link;
    this.copyButton.disabled = !link;
  }

  setStatus(status: ConnectionStatus, unsentEdits: number): void {
    this.status.dataset.status = status;
    const unsent =
      status !== "connected" && unsentEdits > 0
        ? ` · ${unsentEdits} edit${unsentEdits === 1 ? "" : "s"} not yet sent`
        : "";
    this.status.textContent = STATUS_LABELS[status] + unsent;
  }

  setLanguage(id: string): void {
    this.languageMenu.value = id in LANGUAGES ? id : "plaintext";
  }

  setOnline(names: string[]): void {
    this.fillPeople(this.online, names, true);
  }

  setParticipants(names: string[]): void {
    this.fillPeople(this.participants, names, false);
  }

  setHeight(pixels: number): void {
    this.body.style.height = `${Math.max(120, pixels)}px`;
  }

  /** Say why the room cannot be used; without a session there is no editor to show. */
  showError(message: string, hasEditor: boolean): void {
    this.error.textContent = message;
    this.error.hidden = false;
    this.status.dataset.status = "error";
    this.status.textContent = "Not connected";
    this.body.hidden = !hasEditor;
  }

  clearError(): void {
    this.error.hidden = true;
  }

  /** Ask a guest for their name in place of the editor (the original's name prompt). */
  askName(): Promise<string> {
    const form = element("form", "cc-name-prompt");
    const label = element("label", "", "Your name, as others will see it");
    const input = element("input", "cc-name-input");
    input.required = true;
    input.maxLength = 64;
    input.placeholder = "e.g. Ada";
    input.setAttribute("autocomplete", "nickname");
    const submit = element("button", "cc-join", "Join room");
    submit.type = "submit";
    label.append(input);
    form.append(label, submit);
    this.body.hidden = true;
    this.root.append(form);
    setTimeout(() => input.focus(), 0);
    return new Promise((resolve) => {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const name = input.value.trim();
        if (!name) return;
        form.remove();
        this.body.hidden = false;
        resolve(name);
      });
    });
  }

  private fillPeople(list: HTMLElement, names: string[], dot: boolean): void {
    list.replaceChildren(
      ...names.map((name) => {
        const item = element("li", "cc-person");
        if (dot) {
          const marker = element("span", "cc-dot");
          marker.style.backgroundColor = colorFor(name).color;
          item.append(marker);
        }
        item.append(element("span", "cc-name", name));
        return item;
      }),
    );
  }

  private async copyLink(): Promise<void> {
    try {
      await navigator.clipboard.writeText(this.link);
    } catch {
      // Clipboard API needs a secure context; fall back to a selection copy.
      const field = element("textarea", "cc-copy-buffer");
      field.value = this.link;
      this.root.append(field);
      field.select();
      document.execCommand("copy");
      field.remove();
    }
    this.copyButton.textContent = "Copied!";
    clearTimeout(this.copyTimer);
    this.copyTimer = window.setTimeout(() => (this.copyButton.textContent = "Copy link"), 1500);
  }
}
