/**
 * Everything TypeScript and libijr exchange in memory, declared once: the structs passed
 * across the FFI boundary, the enums and the constants. `make abi` renders ffi/ijr_abi.h
 * from this file (lib/native/abi_render.ts), and the TypeScript side reads and writes the
 * same structs through `structLayout`, so no offset or slot number is kept by hand on either
 * side. The generated header also asserts every offset with `_Static_assert`, and the
 * library reports a hash of this declaration that the loader compares with its own: a
 * libijr.so built from another declaration is refused at load time.
 * @module
 */

import { LIBIJR_SYMBOLS } from "./symbols.ts";

/** Scalar field types, and fixed-size byte arrays (`char[N]`). */
export type FieldType = "u16" | "u32" | "i32" | "u64" | "i64" | `char[${number}]`;

/** One field of a struct shared with C. */
export interface FieldDecl {
  readonly name: string;
  readonly type: FieldType;
  readonly doc: string;
}

/** A struct shared with C. */
export interface StructDecl {
  readonly doc: string;
  readonly fields: readonly FieldDecl[];
}

/** An enum shared with C: its values are their indexes plus `first`. */
export interface EnumDecl {
  readonly doc: string;
  readonly prefix: string;
  readonly first: number;
  readonly values: readonly string[];
}

/**
 * The steps of starting a job, in the order they run: the spawner's preparation in ijrd,
 * the cloned child's checklist, and the init's start of the command. A failure names its
 * step, so the error needs no text from C (lib/native/spawn_errors.ts words it).
 */
export const SPAWN_STEPS = [
  // ijrd's thread, before the clone
  "validate_spec",
  "open_output",
  "open_end_file",
  "make_pipes",
  "load_init",
  "allocate_stack",
  "clone",
  // the child, in its new namespaces
  "set_parent_death_signal",
  "enter_made_namespaces",
  "join_cgroups",
  "unshare_cgroup_namespace",
  "set_hostname",
  "make_mounts_private",
  "mount_scratch",
  "prepare_writable_layer",
  "idmap_rootfs",
  "inspect_rootfs",
  "mount_root",
  "mount_proc",
  "mount_dev",
  "mount_sys",
  "mount_tmp",
  "pivot_root",
  "mask_paths",
  "loopback_up",
  "open_network",
  "arrange_descriptors",
  "enter_user_namespace",
  "drop_capabilities",
  "set_no_new_privs",
  "install_seccomp",
  "exec_init",
  // the job's init (ffi/init/)
  "init_arguments",
  "init_protect",
  "init_signals",
  "start_command",
  // the command's process, before its exec
  "set_resource_limits",
  "command_descriptors",
  "command_workdir",
  "exec_command",
  "exec_interpreter",
  "search_path",
] as const;

/** A step's name. */
export type SpawnStep = typeof SPAWN_STEPS[number];

/** Structs, by their C name. */
export const STRUCTS = {
  ijr_spawn_spec: {
    doc: "What ijr_spawn needs to start a job; prepared by TypeScript. Strings are pointers " +
      "to NUL-terminated UTF-8; lists are pointers to `count` NUL-separated strings.",
    fields: [
      { name: "mount_point", type: "u64", doc: "where the job's root is mounted" },
      { name: "lower_dir", type: "u64", doc: "the rootfs tree: the overlay's lower layer" },
      { name: "scratch_dir", type: "u64", doc: "disk scratch folder (upper/, work/); 0: memory" },
      { name: "scratch_bytes", type: "u64", doc: "memory scratch: the tmpfs's size; 0: disk" },
      { name: "hostname", type: "u64", doc: "the job ID" },
      { name: "output_path", type: "u64", doc: "the file receiving stdout and stderr" },
      { name: "workdir", type: "u64", doc: "working directory inside the job's root" },
      { name: "argv", type: "u64", doc: "argc NUL-separated strings" },
      { name: "argc", type: "u64", doc: "entries in argv" },
      { name: "envp", type: "u64", doc: "envc NUL-separated KEY=VALUE strings" },
      { name: "envc", type: "u64", doc: "entries in envp" },
      { name: "cgroup_tasks", type: "u64", doc: "v1: the cgroups' tasks files to join" },
      { name: "cgroup_tasks_count", type: "u64", doc: "entries in cgroup_tasks" },
      { name: "cgroup_dir_fd", type: "i64", doc: "v2: cgroup folder for CLONE_INTO_CGROUP; -1" },
      { name: "flags", type: "u64", doc: "IJR_SPAWN_FLAG_* bits" },
      { name: "max_output_bytes", type: "u64", doc: "most bytes of output; 0: no limit" },
      { name: "timeout_ms", type: "u64", doc: "the init stops the job after this; 0: never" },
      { name: "grace_ms", type: "u64", doc: "between the init's SIGTERM and its kill" },
      { name: "userns_fd", type: "i64", doc: "the job's user namespace (the pool's); -1: none" },
      { name: "net_ns_fd", type: "i64", doc: "a network namespace made ahead; -1: a new one" },
      { name: "ipc_ns_fd", type: "i64", doc: "an IPC namespace made ahead; -1: a new one" },
      { name: "host_uid", type: "u64", doc: "host uid of the job's root (its range's start)" },
      { name: "host_gid", type: "u64", doc: "host gid of the job's root" },
      { name: "seccomp_filter", type: "u64", doc: "struct sock_filter[]; 0: no filter" },
      { name: "seccomp_filter_len", type: "u64", doc: "instructions in seccomp_filter" },
      { name: "end_path", type: "u64", doc: "the file the init records the command's end in" },
      { name: "error", type: "u64", doc: "out: a struct ijr_spawn_error filled on failure" },
    ],
  },
  ijr_spawn_error: {
    doc: "Why a job could not be started: the step, the errno and the path or name it was " +
      "working on. Data, not prose: TypeScript words it.",
    fields: [
      { name: "errno_value", type: "i32", doc: "the errno (positive), or 0" },
      { name: "step", type: "i32", doc: "an IJR_STEP_* value" },
      { name: "detail", type: "char[1024]", doc: "NUL-terminated path or name; may be empty" },
    ],
  },
  ijr_made_namespaces: {
    doc: "A job's network and IPC namespaces, made ahead by ijr_make_namespaces: descriptors " +
      "(close-on-exec), the network's loopback up.",
    fields: [
      { name: "net_fd", type: "i32", doc: "the network namespace" },
      { name: "ipc_fd", type: "i32", doc: "the IPC namespace" },
    ],
  },
  ijr_init_status: {
    doc: "How the job's command ended, as its init saw it, written once at the start of " +
      "the job's end file (whether or not ijrd is running).",
    fields: [
      { name: "magic", type: "u32", doc: "IJR_INIT_STATUS_MAGIC" },
      { name: "version", type: "u16", doc: "IJR_INIT_PROTOCOL_VERSION" },
      { name: "kind", type: "u16", doc: "an IJR_END_* value" },
      { name: "value", type: "i32", doc: "exit status 0..255, or signal 1..64" },
      { name: "reason", type: "u16", doc: "an IJR_STOP_* value: why the init stopped it" },
      { name: "reserved", type: "u16", doc: "zero" },
      { name: "end_sec", type: "i64", doc: "when the command ended (CLOCK_REALTIME), seconds" },
      { name: "end_nsec", type: "i64", doc: "nanoseconds of end_sec" },
    ],
  },
  ijr_extract_record: {
    doc: "The header of one record of an extraction batch; path[path_len], link[link_len] " +
      "and data[data_len] follow it.",
    fields: [
      { name: "op", type: "u32", doc: "an IJR_EXTRACT_* operation" },
      { name: "path_len", type: "u32", doc: "bytes of the path after the header" },
      { name: "link_len", type: "u32", doc: "bytes of the link target after the path" },
      { name: "mode", type: "u32", doc: "permission bits, 07777 at most" },
      { name: "uid", type: "u32", doc: "owner" },
      { name: "gid", type: "u32", doc: "group" },
      { name: "mtime_nsec", type: "u32", doc: "nanoseconds of the mtime" },
      { name: "reserved", type: "u32", doc: "zero" },
      { name: "mtime_sec", type: "i64", doc: "seconds of the mtime (may be negative)" },
      { name: "data_len", type: "u64", doc: "bytes of data after the link target" },
    ],
  },
} as const satisfies Record<string, StructDecl>;

/** A struct's C name. */
export type StructName = keyof typeof STRUCTS;

/** Enums, by their C name. */
export const ENUMS = {
  ijr_spawn_step: {
    doc: "The steps of starting a job (SPAWN_STEPS in lib/native/abi.ts).",
    prefix: "IJR_STEP_",
    first: 0,
    values: SPAWN_STEPS,
  },
  ijr_end_kind: {
    doc: "How a command ended.",
    prefix: "IJR_END_",
    first: 1,
    values: ["exit", "signal"],
  },
  ijr_stop_reason: {
    doc: "Why the init stopped the job itself (SIGTERM, the grace period, then everything " +
      "killed), if it did.",
    prefix: "IJR_STOP_",
    first: 0,
    values: ["none", "timeout", "output_limit"],
  },
  ijr_seccomp_verdict: {
    doc: "What the jobs' seccomp policy does with a system call (ffi/seccomp_profile.c): " +
      "deny (EPERM), allow, enosys, or decide by its first argument.",
    prefix: "IJR_SECCOMP_",
    first: 0,
    values: ["deny", "allow", "enosys", "clone", "socket", "socketcall", "personality"],
  },
  ijr_extract_op: {
    doc: "Extraction record operations.",
    prefix: "IJR_EXTRACT_",
    first: 1,
    values: ["dir", "file", "data", "file_end", "symlink", "hardlink", "dir_time"],
  },
} as const satisfies Record<string, EnumDecl>;

/** Constants shared with C, with what they mean. */
export const CONSTANTS = {
  IJR_SPAWN_MAX_STRINGS: [4096, "most entries in argv or envp"],
  IJR_SPAWN_MAX_CGROUPS: [64, "most cgroup tasks files to join"],
  IJR_LAYER_PATH_MAX: [1200, "longest rootfs, scratch or mount point path (overlay options)"],
  IJR_SPAWN_FLAG_PARENT_DEATH_SIGNAL: [1, "the init dies with the thread that spawned it"],
  IJR_SPAWN_FLAG_PROBE_MOUNTS: [
    2,
    "run the checklist only up to the job's root mount, then end: a start-up check that the " +
    "kernel can mount a job's root as configured (returns 0, no job)",
  ],
  IJR_USERNS_RANGE: [65536, "ids in a job's user namespace: 0..65535"],
  IJR_INIT_END_FD: [3, "the init's descriptor of the job's end file"],
  IJR_INIT_ERROR_FD: [4, "the init's descriptor of the error pipe (write end)"],
  IJR_INIT_OUTPUT_FD: [5, "the init's descriptor of the job's output file"],
  IJR_INIT_STATUS_MAGIC: [0x534a5249, "'IJRS' in little-endian order"],
  IJR_INIT_PROTOCOL_VERSION: [
    3,
    "version of the init's command line, of its descriptors and of struct ijr_init_status " +
    "(3: the end is recorded in a file, so that it outlives ijrd)",
  ],
  IJR_EXTRACT_PATH_MAX: [4096, "longest path or link target of an extraction record"],
} as const satisfies Record<string, readonly [number, string]>;

/** Where each field of a struct lies. */
export interface StructLayout {
  readonly size: number;
  readonly offsets: Readonly<Record<string, number>>;
  readonly fields: readonly FieldDecl[];
}

function sizeAndAlignment(type: FieldType): { size: number; align: number } {
  switch (type) {
    case "u16":
      return { size: 2, align: 2 };
    case "u32":
    case "i32":
      return { size: 4, align: 4 };
    case "u64":
    case "i64":
      return { size: 8, align: 8 };
  }
  const match = /^char\[(\d+)\]$/.exec(type);
  if (!match) throw new Error(`unknown field type ${type}`);
  return { size: Number(match[1]), align: 1 };
}

const layouts = new Map<StructName, StructLayout>();

/** The C layout (natural alignment, as gcc lays it out on x86_64) of a declared struct. */
export function structLayout(name: StructName): StructLayout {
  const cached = layouts.get(name);
  if (cached) return cached;
  const offsets: Record<string, number> = {};
  let at = 0;
  let maxAlign = 1;
  for (const field of STRUCTS[name].fields) {
    const { size, align } = sizeAndAlignment(field.type);
    at = Math.ceil(at / align) * align;
    offsets[field.name] = at;
    at += size;
    maxAlign = Math.max(maxAlign, align);
  }
  const layout = {
    size: Math.ceil(at / maxAlign) * maxAlign,
    offsets,
    fields: STRUCTS[name].fields,
  };
  layouts.set(name, layout);
  return layout;
}

/** The numeric value of an enum member, as C sees it. */
export function enumValue<E extends keyof typeof ENUMS>(
  name: E,
  member: typeof ENUMS[E]["values"][number],
): number {
  const decl: EnumDecl = ENUMS[name];
  const index = decl.values.indexOf(member);
  if (index < 0) throw new Error(`${member} is not a member of enum ${name}`);
  return decl.first + index;
}

/** The value of a shared constant. */
export function abiConstant(name: keyof typeof CONSTANTS): number {
  return CONSTANTS[name][0];
}

/** FNV-1a 64 of a text's UTF-8 bytes. */
function fnv1a64(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash;
}

let hash: bigint | undefined;

/**
 * The hash of this declaration and of libijr's FFI signatures (lib/native/symbols.ts): the
 * library built from it reports the same value (ijr_abi_hash), so a stale libijr.so is
 * refused instead of misread.
 */
export function abiHash(): bigint {
  hash ??= fnv1a64(JSON.stringify({ STRUCTS, ENUMS, CONSTANTS, LIBIJR_SYMBOLS }));
  return hash;
}

/** Reads and writes one struct in a byte buffer by field name. */
export class StructView {
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly #view: DataView;
  readonly #layout: StructLayout;
  readonly #name: StructName;

  /** A view of a new zeroed struct, or of `bytes` (which must hold one). */
  constructor(name: StructName, bytes?: Uint8Array<ArrayBuffer>) {
    this.#name = name;
    this.#layout = structLayout(name);
    this.bytes = bytes ?? new Uint8Array(this.#layout.size);
    if (this.bytes.length < this.#layout.size) throw new Error(`${name}: buffer too small`);
    this.#view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.#layout.size);
  }

  #field(field: string): { offset: number; type: FieldType } {
    const offset = this.#layout.offsets[field];
    const decl = this.#layout.fields.find((f) => f.name === field);
    if (offset === undefined || !decl) throw new Error(`${this.#name} has no field ${field}`);
    return { offset, type: decl.type };
  }

  /** Sets a scalar field. */
  set(field: string, value: number | bigint): void {
    const { offset, type } = this.#field(field);
    const view = this.#view;
    switch (type) {
      case "u16":
        return view.setUint16(offset, Number(value), true);
      case "u32":
        return view.setUint32(offset, Number(value), true);
      case "i32":
        return view.setInt32(offset, Number(value), true);
      case "u64":
        return view.setBigUint64(offset, BigInt(value), true);
      case "i64":
        return view.setBigInt64(offset, BigInt(value), true);
    }
    throw new Error(`${this.#name}.${field} is not a scalar`);
  }

  /** Reads a scalar field (64-bit fields as bigint). */
  get(field: string): number | bigint {
    const { offset, type } = this.#field(field);
    const view = this.#view;
    switch (type) {
      case "u16":
        return view.getUint16(offset, true);
      case "u32":
        return view.getUint32(offset, true);
      case "i32":
        return view.getInt32(offset, true);
      case "u64":
        return view.getBigUint64(offset, true);
      case "i64":
        return view.getBigInt64(offset, true);
    }
    throw new Error(`${this.#name}.${field} is not a scalar`);
  }

  /** The bytes of a char[] field up to its first NUL. */
  text(field: string): Uint8Array {
    const { offset, type } = this.#field(field);
    const bytes = this.bytes.subarray(offset, offset + sizeAndAlignment(type).size);
    const end = bytes.indexOf(0);
    return end < 0 ? bytes : bytes.subarray(0, end);
  }
}
