/* names.c - UTF-8 and plain-name validation. */
#include "names.h"

#include <string.h>

/* Length of the well-formed sequence at s (n bytes left), 0 if none;
 * *cp gets its code point. */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned *cp) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if (c >= 0xc2 && c <= 0xdf) {
    len = 2, min = 0x80, c &= 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3, min = 0x800, c &= 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4, min = 0x10000, c &= 0x07;
  } else {
    return 0; /* continuation byte, 0xc0/0xc1 or 0xf5.. */
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  *cp = c;
  return len;
}

size_t bd_utf8_seq_len(const char *s, size_t n) {
  unsigned cp;
  return n ? utf8_seq((const unsigned char *)s, n, &cp) : 0;
}

bool bd_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    unsigned cp;
    size_t k = utf8_seq(p + i, n - i, &cp);
    if (!k) return false;
    i += k;
  }
  return true;
}

/* What is wrong with name as a plain name, or NULL. */
static const char *name_problem(const char *name, size_t n) {
  if (n == 0) return "is empty";
  if (n > BD_FILE_NAME_MAX) return "is too long";
  if (name[0] == '.') return "starts with '.'";
  const unsigned char *p = (const unsigned char *)name;
  for (size_t i = 0; i < n;) {
    unsigned cp;
    size_t k = utf8_seq(p + i, n - i, &cp);
    if (!k) return "is not valid UTF-8";
    if (cp == '/' || cp == '\\') return "contains '/' or '\\'";
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
      return "contains a control character";
    i += k;
  }
  return NULL;
}

bool bd_file_name_ok(const char *name) {
  return name && !name_problem(name, strlen(name));
}

bd_status bd_name_check(const char *kind, const char *name) {
  size_t n = name ? strlen(name) : 0;
  const char *why = name_problem(name ? name : "", n);
  if (!why) return BD_OK;
  /* Echo at most 64 bytes, cut at a character boundary, and only a name
   * that is valid UTF-8 (the message goes into a JSON reply). */
  size_t show = 0;
  if (bd_utf8_valid(name, n)) {
    show = n < 64 ? n : 64;
    while (show < n && ((unsigned char)name[show] & 0xc0) == 0x80) show--;
  }
  return bd_fail(BD_EINVAL,
                 "%s name %s%.*s%s%s (a plain name is 1-%d bytes of valid "
                 "UTF-8, with no '/' or '\\', no leading '.' and no control "
                 "characters)",
                 kind, show ? "'" : "", (int)show, show ? name : "",
                 show < n && show ? "...' "
                 : show           ? "' "
                                  : "",
                 why, BD_FILE_NAME_MAX);
}
