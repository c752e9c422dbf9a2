/** The version of ijrd and ijrctl, printed by `--version`; the one place it is set. */
export const VERSION = "0.1.0";
