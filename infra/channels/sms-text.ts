/** SMS text: GSM 03.38 (7-bit default alphabet) detection, which picks the SMS coding. */

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENSION = '\f^{}\\[~]|€';
const GSM_CHARS = new Set([...GSM_BASIC, ...GSM_EXTENSION]);

/** True when every character of `text` is in the GSM 7-bit default alphabet (or its extension table). */
export function isGsm7(text: string): boolean {
  for (const ch of text) if (!GSM_CHARS.has(ch)) return false;
  return true;
}
