// The room languages: ids match the server's list (codecompanion_ext/validation.py).
import { cpp } from "@codemirror/lang-cpp";
import { css } from "@codemirror/lang-css";
import { go } from "@codemirror/lang-go";
import { html } from "@codemirror/lang-html";
import { java } from "@codemirror/lang-java";
import { javascript } from "@codemirror/lang-javascript";
import { json } from "@codemirror/lang-json";
import { markdown } from "@codemirror/lang-markdown";
import { php } from "@codemirror/lang-php";
import { python } from "@codemirror/lang-python";
import { rust } from "@codemirror/lang-rust";
import { sql } from "@codemirror/lang-sql";
import { yaml } from "@codemirror/lang-yaml";
import { StreamLanguage } from "@codemirror/language";
import { csharp, kotlin } from "@codemirror/legacy-modes/mode/clike";
import { julia } from "@codemirror/legacy-modes/mode/julia";
import { r } from "@codemirror/legacy-modes/mode/r";
import { ruby } from "@codemirror/legacy-modes/mode/ruby";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import type { Extension } from "@codemirror/state";

interface LanguageInfo {
  label: string;
  support: () => Extension;
}

// A Map, not a plain object: ids come from peers (the document's `meta.language`), and a
// plain object would also answer to "constructor", "toString" or "__proto__".
export const LANGUAGES: ReadonlyMap<string, LanguageInfo> = new Map(
  Object.entries({
    python: { label: "Python", support: () => python() },
    javascript: { label: "JavaScript", support: () => javascript() },
    typescript: { label: "TypeScript", support: () => javascript({ typescript: true }) },
    java: { label: "Java", support: () => java() },
    c: { label: "C", support: () => cpp() },
    cpp: { label: "C++", support: () => cpp() },
    csharp: { label: "C#", support: () => StreamLanguage.define(csharp) },
    go: { label: "Go", support: () => go() },
    rust: { label: "Rust", support: () => rust() },
    sql: { label: "SQL", support: () => sql() },
    r: { label: "R", support: () => StreamLanguage.define(r) },
    julia: { label: "Julia", support: () => StreamLanguage.define(julia) },
    kotlin: { label: "Kotlin", support: () => StreamLanguage.define(kotlin) },
    php: { label: "PHP", support: () => php() },
    ruby: { label: "Ruby", support: () => StreamLanguage.define(ruby) },
    shell: { label: "Shell", support: () => StreamLanguage.define(shell) },
    html: { label: "HTML", support: () => html() },
    css: { label: "CSS", support: () => css() },
    json: { label: "JSON", support: () => json() },
    yaml: { label: "YAML", support: () => yaml() },
    markdown: { label: "Markdown", support: () => markdown() },
    plaintext: { label: "Plain text", support: () => [] },
  }),
);

/** Whether `id` is one of the room languages (anything else is shown as plain text). */
export function isLanguage(id: unknown): id is string {
  return typeof id === "string" && LANGUAGES.has(id);
}

export function languageSupport(id: string): Extension {
  return LANGUAGES.get(id)?.support() ?? []; // an unknown id: plain text
}
