/** Job IDs: 16 random lower-case hex characters, usable as a hostname, a folder name and a
 * cgroup name. @module */

/** A new random job ID. */
export function newJobId(): string {
  return [...crypto.getRandomValues(new Uint8Array(8))]
    .map((byte) => byte.toString(16).padStart(2, "0"))
    .join("");
}

/** True for something shaped like a job ID (guards paths built from user input). */
export function isJobId(text: string): boolean {
  return /^[0-9a-f]{16}$/.test(text);
}
