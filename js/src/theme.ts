// Editor colours from JupyterLab's own CSS variables, so the editor follows the light or
// dark theme; the fallbacks serve pages outside JupyterLab.
import { HighlightStyle } from "@codemirror/language";
import type { Extension } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { tags as t } from "@lezer/highlight";

const v = (name: string, fallback: string) => `var(--jp-mirror-editor-${name}-color, ${fallback})`;

export const highlightStyle = HighlightStyle.define([
  { tag: t.keyword, color: v("keyword", "#008000"), fontWeight: "bold" },
  { tag: [t.atom, t.bool, t.null], color: v("atom", "#88f") },
  { tag: t.number, color: v("number", "#080") },
  { tag: [t.string, t.special(t.string), t.regexp], color: v("string", "#ba2121") },
  { tag: [t.comment, t.lineComment, t.blockComment], color: v("comment", "#408080"), fontStyle: "italic" },
  { tag: [t.operator, t.operatorKeyword], color: v("operator", "#aa22ff") },
  { tag: [t.definition(t.variableName), t.function(t.definition(t.variableName))], color: v("def", "#00f") },
  { tag: [t.function(t.variableName), t.function(t.propertyName)], color: v("def", "#00f") },
  { tag: [t.typeName, t.className, t.namespace], color: v("variable-2", "#05a") },
  { tag: t.propertyName, color: v("property", "#05a") },
  { tag: [t.meta, t.annotation, t.processingInstruction], color: v("meta", "#aa22ff") },
  { tag: t.tagName, color: v("tag", "#170") },
  { tag: t.attributeName, color: v("attribute", "#00c") },
  { tag: t.heading, color: v("header", "blue"), fontWeight: "bold" },
  { tag: t.link, textDecoration: "underline" },
  { tag: t.invalid, color: v("error", "#f00") },
]);

export function editorTheme(dark: boolean): Extension {
  return EditorView.theme(
    {
      "&": {
        height: "100%",
        color: "var(--jp-content-font-color1, var(--cc-fg))",
        backgroundColor: "var(--jp-cell-editor-background, var(--cc-editor-bg))",
        fontSize: "var(--jp-code-font-size, 13px)",
      },
      ".cm-scroller": { fontFamily: "var(--jp-code-font-family, monospace)", lineHeight: "1.45" },
      ".cm-content": { caretColor: "var(--jp-editor-cursor-color, var(--cc-fg))" },
      "&.cm-focused .cm-cursor": { borderLeftColor: "var(--jp-editor-cursor-color, var(--cc-fg))" },
      ".cm-gutters": {
        backgroundColor: "var(--jp-cell-editor-background, var(--cc-editor-bg))",
        color: "var(--jp-ui-font-color2, #888)",
        border: "none",
      },
      ".cm-activeLine, .cm-activeLineGutter": {
        backgroundColor: "var(--jp-cell-editor-active-background, var(--cc-active-line))",
      },
    },
    { dark },
  );
}

export function isDarkPage(): boolean {
  const light = document.body.dataset.jpThemeLight;
  if (light !== undefined) return light === "false";
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
}

/** Call `onChange(dark)` whenever JupyterLab (or the OS) switches theme; returns a stop function. */
export function watchPageTheme(onChange: (dark: boolean) => void): () => void {
  const observer = new MutationObserver(() => onChange(isDarkPage()));
  observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light"] });
  const media = window.matchMedia?.("(prefers-color-scheme: dark)");
  const onMedia = () => onChange(isDarkPage());
  media?.addEventListener("change", onMedia);
  return () => {
    observer.disconnect();
    media?.removeEventListener("change", onMedia);
  };
}
