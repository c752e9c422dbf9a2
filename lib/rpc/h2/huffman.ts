/**
 * HPACK's Huffman code (RFC 7541, Appendix B), decoding only: IJR's client never Huffman-encodes
 * what it sends, but a server may encode any string it sends that way.
 *
 * The code is canonical: ordered by length, codes of one length are consecutive and follow the
 * order of their symbols. So the table below is only each symbol's code length (from the RFC's
 * table; symbol 256 is EOS), and the codes are rebuilt from it at load. A unit test checks the
 * result against codes the RFC lists and against strings a real HTTP/2 server encoded.
 * @module
 */

/** Code length in bits of each symbol 0..255 and of EOS (256). */
const CODE_LENGTHS: readonly number[] = [
  13,
  23,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  24,
  30,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  6,
  10,
  10,
  12,
  13,
  6,
  8,
  11,
  10,
  10,
  8,
  11,
  8,
  6,
  6,
  6,
  5,
  5,
  5,
  6,
  6,
  6,
  6,
  6,
  6,
  6,
  7,
  8,
  15,
  6,
  12,
  10,
  13,
  6,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  8,
  7,
  8,
  13,
  19,
  13,
  14,
  6,
  15,
  5,
  6,
  5,
  6,
  5,
  6,
  6,
  6,
  5,
  7,
  7,
  6,
  6,
  6,
  5,
  6,
  7,
  6,
  5,
  5,
  6,
  7,
  7,
  7,
  7,
  7,
  15,
  11,
  14,
  13,
  28,
  20,
  22,
  20,
  20,
  22,
  22,
  22,
  23,
  22,
  23,
  23,
  23,
  23,
  23,
  24,
  23,
  24,
  24,
  22,
  23,
  24,
  23,
  23,
  23,
  23,
  21,
  22,
  23,
  22,
  23,
  23,
  24,
  22,
  21,
  20,
  22,
  22,
  23,
  23,
  21,
  23,
  22,
  22,
  24,
  21,
  22,
  23,
  23,
  21,
  21,
  22,
  21,
  23,
  22,
  23,
  23,
  20,
  22,
  22,
  22,
  23,
  22,
  22,
  23,
  26,
  26,
  20,
  19,
  22,
  23,
  22,
  25,
  26,
  26,
  26,
  27,
  27,
  26,
  24,
  25,
  19,
  21,
  26,
  27,
  27,
  26,
  27,
  24,
  21,
  21,
  26,
  26,
  28,
  27,
  27,
  27,
  20,
  24,
  20,
  21,
  22,
  21,
  21,
  23,
  22,
  22,
  25,
  25,
  24,
  24,
  26,
  23,
  26,
  27,
  26,
  26,
  27,
  27,
  27,
  27,
  27,
  28,
  27,
  27,
  27,
  27,
  27,
  26,
  30,
];

const EOS = 256;
const MAX_LENGTH = 30;

/**
 * For each length: the first code of that length, and where its symbols start in `SYMBOLS`
 * (symbols sorted by length, then value): a canonical code decodes with these two numbers.
 */
const FIRST_CODE = new Int32Array(MAX_LENGTH + 2);
const FIRST_INDEX = new Int32Array(MAX_LENGTH + 2);
const COUNT = new Int32Array(MAX_LENGTH + 2);
const SYMBOLS: number[] = [];

(function buildCanonicalCode() {
  for (const length of CODE_LENGTHS) COUNT[length]++;
  let code = 0;
  let index = 0;
  for (let length = 1; length <= MAX_LENGTH; length++) {
    FIRST_CODE[length] = code;
    FIRST_INDEX[length] = index;
    code = (code + COUNT[length]) << 1;
    index += COUNT[length];
  }
  for (let length = 1; length <= MAX_LENGTH; length++) {
    CODE_LENGTHS.forEach((symbolLength, symbol) => {
      if (symbolLength === length) SYMBOLS.push(symbol);
    });
  }
})();

/** The code of `symbol`, as the RFC's table lists it ("code as hex"); for tests. */
export function huffmanCode(symbol: number): { code: number; length: number } {
  const length = CODE_LENGTHS[symbol];
  const index = SYMBOLS.indexOf(symbol);
  return { code: FIRST_CODE[length] + index - FIRST_INDEX[length], length };
}

/**
 * Decodes a Huffman-coded string into its bytes. Throws on what RFC 7541 section 5.2 calls a
 * decoding error: padding longer than 7 bits, padding that is not the most significant bits
 * of EOS (all ones), or EOS itself in the string.
 */
export function decodeHuffman(input: Uint8Array): Uint8Array {
  // Every symbol takes at least 5 bits: the output is at most 8/5 of the input.
  const output = new Uint8Array(Math.ceil(input.length * 8 / 5));
  let written = 0;
  let code = 0;
  let length = 0;
  for (let byteIndex = 0; byteIndex < input.length; byteIndex++) {
    const byte = input[byteIndex];
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1);
      length++;
      const offset = code - FIRST_CODE[length];
      if (offset >= 0 && offset < COUNT[length]) {
        const symbol = SYMBOLS[FIRST_INDEX[length] + offset];
        if (symbol === EOS) throw new Error("Huffman-coded string contains EOS");
        output[written++] = symbol;
        code = 0;
        length = 0;
      } else if (length >= MAX_LENGTH) {
        throw new Error("invalid Huffman code");
      }
    }
  }
  // What is left is padding: at most 7 bits, all ones (a prefix of EOS).
  if (length > 7) throw new Error("Huffman padding longer than 7 bits");
  if (code !== (1 << length) - 1) throw new Error("Huffman padding is not all ones");
  return output.subarray(0, written);
}
