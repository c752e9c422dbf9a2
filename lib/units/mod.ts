/**
 * Units people type and read: byte sizes ("512m"), durations ("1m30s"), command lines as
 * one shell-quoted line. Shared by ijrd's flags, ijrctl's flags and output, and the engine.
 * @module
 */

export { commandLine, shortCommandLine } from "./command_line.ts";
export { formatDuration, parseDuration } from "./duration.ts";
export { formatByteSize, parseByteSize } from "./size.ts";
