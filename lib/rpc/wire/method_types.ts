/**
 * Type helpers both ends use to derive a method's request and response types from a
 * protobuf-es service descriptor.
 * @module
 */

import type { GenServiceMethods } from "@bufbuild/protobuf/codegenv2";

/** One method of a generated service. */
export type MethodShape = GenServiceMethods[string];
/** A method's request message type. */
export type In<M extends MethodShape> = M["input"];
/** A method's response message type. */
export type Out<M extends MethodShape> = M["output"];
