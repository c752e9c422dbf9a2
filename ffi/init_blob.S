/* Embeds the static ijr-init program (built from ffi/init/ by the Makefile) in libijr.so, so
 * the spawner can exec it from a memfd: one library file carries everything a job needs. */
#ifndef IJR_INIT_PATH
#error "IJR_INIT_PATH must name the built ijr-init"
#endif
  .section .rodata
  .balign 16
  .globl ijr_init_blob
  .hidden ijr_init_blob
  .type ijr_init_blob, @object
ijr_init_blob:
  .incbin IJR_INIT_PATH
  .globl ijr_init_blob_end
  .hidden ijr_init_blob_end
ijr_init_blob_end:
  .section .note.GNU-stack,"",@progbits
