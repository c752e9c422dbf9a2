/* ABI identification and the FFI round-trip probe. */
#include "libijr.h"

int32_t ijr_abi_version(void) { return IJR_ABI_VERSION; }

uint64_t ijr_fnv1a64(const uint8_t *data, size_t len) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < len; i++) {
    hash ^= data[i];
    hash *= 0x100000001b3ULL;
  }
  return hash;
}
