/** SMS text helpers: GSM 03.38 (7-bit default alphabet) detection and SMS length. */

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENSION = '\f^{}\\[~]|€';
const GSM_CHARS = new Set([...GSM_BASIC, ...GSM_EXTENSION]);

/** True when every character of `text` is in the GSM 7-bit default alphabet (or its extension table). */
export function isGsm7(text: string): boolean {
  for (const ch of text) if (!GSM_CHARS.has(ch)) return false;
  return true;
}

/** Septets (7-bit) or UCS-2 code units the text needs; extension characters count twice. */
export function smsLength(text: string): { coding: 'gsm7' | 'ucs2'; units: number; parts: number } {
  if (isGsm7(text)) {
    let units = 0;
    for (const ch of text) units += GSM_EXTENSION.includes(ch) ? 2 : 1;
    return { coding: 'gsm7', units, parts: units <= 160 ? 1 : Math.ceil(units / 153) };
  }
  const units = text.length; // UTF-16 code units = UCS-2/UTF-16 16-bit units
  return { coding: 'ucs2', units, parts: units <= 70 ? 1 : Math.ceil(units / 67) };
}
