/* Text building without stdio or malloc, for the child and the init: the one place C turns
 * a number into decimal. */
#include "job_child.h"

void ijr_text_put(struct ijr_text *text, const char *s) {
  if (text->cap == 0) return;
  while (*s) {
    if (text->len + 1 >= text->cap) {
      text->truncated = 1;
      break;
    }
    text->buf[text->len++] = *s++;
  }
  text->buf[text->len] = '\0';
}

void ijr_text_put_u64(struct ijr_text *text, uint64_t value) {
  char digits[21];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value);
  char reversed[21];
  for (int i = 0; i < n; i++) reversed[i] = digits[n - 1 - i];
  reversed[n] = '\0';
  ijr_text_put(text, reversed);
}
