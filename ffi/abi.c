/* ABI identification: which declaration (lib/native/abi.ts) this library was built from. */
#include "libijr.h"

uint64_t ijr_abi_hash(void) { return IJR_ABI_HASH; }
