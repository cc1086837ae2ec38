// A stable colour per person: the same name gets the same colour in every view.
export const PALETTE = [
  "#d32f2f", "#1976d2", "#388e3c", "#f57c00", "#7b1fa2", "#0097a7",
  "#c2185b", "#5d4037", "#303f9f", "#689f38", "#e64a19", "#00796b",
];

export interface PersonColor {
  color: string;
  light: string;
}

export function colorFor(name: string): PersonColor {
  let hash = 0x811c9dc5; // FNV-1a
  for (const char of name) {
    hash ^= char.codePointAt(0) ?? 0;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  const color = PALETTE[hash % PALETTE.length];
  return { color, light: `${color}33` };
}

/** [r, g, b] (0-255) of "#rgb" or "#rrggbb", or null for anything else. */
export function parseHex(color: string): [number, number, number] | null {
  const match = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color.trim());
  if (!match) return null;
  const hex = match[1].length === 3 ? [...match[1]].map((c) => c + c).join("") : match[1];
  return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
}

/** WCAG 2 relative luminance of an sRGB colour. */
export function luminance([r, g, b]: [number, number, number]): number {
  const linear = (c: number) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

/** WCAG 2 contrast ratio of two colours (1 to 21). */
export function contrastRatio(a: [number, number, number], b: [number, number, number]): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light + 0.05) / (dark + 0.05);
}

const WHITE: [number, number, number] = [255, 255, 255];
const BLACK: [number, number, number] = [0, 0, 0];

export interface LabelColors {
  /** The person's colour, for the caret and the label's background. */
  background: string;
  /** White or black, whichever reads better on it (at least 4.58:1 for any colour). */
  text: string;
}

/**
 * The colour a person is shown in: their caret, its label and their Online dot. `color`
 * comes from their presence, so anything but a hex colour is replaced by the name's own
 * colour (it ends up in a style).
 */
export function personColor(color: unknown, name: string): string {
  return typeof color === "string" && parseHex(color) ? color.trim() : colorFor(name).color;
}

/** Colours of a remote cursor's name label: the person's colour (personColor), and text. */
export function labelColors(color: unknown, name: string): LabelColors {
  const background = personColor(color, name);
  const parsed = parseHex(background) as [number, number, number];
  const text = contrastRatio(parsed, WHITE) >= contrastRatio(parsed, BLACK) ? "#ffffff" : "#000000";
  return { background, text };
}
