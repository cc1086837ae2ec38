// The one DOM helper of the front end. Text always goes in as text, never as HTML: names
// and messages come from other people.

/** A new `tag` element with `className` (if any) and `text` (if given). */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = "",
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
