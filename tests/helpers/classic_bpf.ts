/**
 * A classic BPF interpreter for seccomp programs, as the kernel runs them (its checked subset:
 * loads from struct seccomp_data, the scratch memory, the ALU, forward jumps, returns), to
 * check a compiled filter's verdict for every call without making the calls. An instruction
 * outside that subset, a jump out of the program or a fall off its end throws.
 * @module
 */

/** One struct sock_filter. */
export interface BpfInstruction {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

/** Reads struct sock_filter[] (u16 code, u8 jt, u8 jf, u32 k; little-endian). */
export function parseProgram(bytes: Uint8Array): BpfInstruction[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const program: BpfInstruction[] = [];
  for (let at = 0; at + 8 <= bytes.length; at += 8) {
    program.push({
      code: view.getUint16(at, true),
      jt: view.getUint8(at + 2),
      jf: view.getUint8(at + 3),
      k: view.getUint32(at + 4, true),
    });
  }
  return program;
}

/** struct seccomp_data: the call as the filter sees it. */
export interface SeccompCall {
  readonly nr: number;
  readonly arch: number;
  readonly args?: readonly bigint[];
}

function seccompData(call: SeccompCall): DataView {
  const view = new DataView(new ArrayBuffer(64));
  view.setInt32(0, call.nr, true);
  view.setUint32(4, call.arch, true);
  view.setBigUint64(8, 0n, true); // instruction_pointer
  (call.args ?? []).forEach((arg, i) => view.setBigUint64(16 + 8 * i, arg, true));
  return view;
}

/** Runs `program` over `call`; returns the filter's 32-bit verdict (SECCOMP_RET_*). */
export function runSeccompProgram(program: readonly BpfInstruction[], call: SeccompCall): number {
  const data = seccompData(call);
  const memory = new Uint32Array(16);
  let a = 0;
  let x = 0;
  for (let pc = 0; pc < program.length;) {
    const { code, jt, jf, k } = program[pc++];
    const source = code & 0x08 ? x : k;
    switch (code) {
      case 0x20: // ld [k] (word, absolute)
        if (k % 4 !== 0 || k + 4 > 64) throw new Error(`load at ${k} outside seccomp_data`);
        a = data.getUint32(k, true);
        break;
      case 0x00: // ld #k
        a = k;
        break;
      case 0x60: // ld M[k]
        a = memory[k];
        break;
      case 0x01: // ldx #k
        x = k;
        break;
      case 0x61: // ldx M[k]
        x = memory[k];
        break;
      case 0x02: // st M[k]
        memory[k] = a;
        break;
      case 0x03: // stx M[k]
        memory[k] = x;
        break;
      case 0x04:
      case 0x0c:
        a = (a + source) >>> 0;
        break; // add
      case 0x14:
      case 0x1c:
        a = (a - source) >>> 0;
        break; // sub
      case 0x24:
      case 0x2c:
        a = Math.imul(a, source) >>> 0;
        break; // mul
      case 0x44:
      case 0x4c:
        a = (a | source) >>> 0;
        break; // or
      case 0x54:
      case 0x5c:
        a = (a & source) >>> 0;
        break; // and
      case 0x64:
      case 0x6c:
        a = source >= 32 ? 0 : (a << source) >>> 0;
        break; // lsh
      case 0x74:
      case 0x7c:
        a = source >= 32 ? 0 : a >>> source;
        break; // rsh
      case 0xa4:
      case 0xac:
        a = (a ^ source) >>> 0;
        break; // xor
      case 0x84:
        a = (-a) >>> 0;
        break; // neg
      case 0x07:
        x = a;
        break; // tax
      case 0x87:
        a = x;
        break; // txa
      case 0x05: // ja
        pc += k;
        break;
      case 0x15:
      case 0x1d:
        pc += a === source ? jt : jf;
        break; // jeq
      case 0x25:
      case 0x2d:
        pc += a > source ? jt : jf;
        break; // jgt
      case 0x35:
      case 0x3d:
        pc += a >= source ? jt : jf;
        break; // jge
      case 0x45:
      case 0x4d:
        pc += (a & source) !== 0 ? jt : jf;
        break; // jset
      case 0x06:
        return k; // ret #k
      case 0x16:
        return a; // ret a
      default:
        throw new Error(
          `instruction ${pc - 1}: opcode 0x${code.toString(16)} is not one seccomp runs`,
        );
    }
  }
  throw new Error("the program ran off its end");
}
