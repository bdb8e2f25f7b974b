/* json_parse.c - cJSON parsing plus the exact text of long integers. */
#include "json_parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A number token as cJSON reads one: it starts at '-' or a digit outside
 * a string and runs over [0-9+-.eE]. */
static bool num_char(char c) {
  return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' ||
         c == 'e' || c == 'E';
}

/* True when tok[0..n) is an integer literal of 16 or more digits. */
static bool long_int(const char *tok, size_t n) {
  size_t i = tok[0] == '-' ? 1 : 0, digits = 0;
  for (; i < n; i++) {
    if (tok[i] < '0' || tok[i] > '9') return false;
    digits++;
  }
  return digits >= 16;
}

/* The next number node of the tree in document order (pre-order, which
 * is the order cJSON created them in), starting after *cur. */
static cJSON *next_number(cJSON **stack, int *depth, int max_depth) {
  while (*depth > 0) {
    cJSON *n = stack[*depth - 1];
    if (!n) {
      (*depth)--;
      continue;
    }
    stack[*depth - 1] = n->next;
    if (n->child && *depth < max_depth) stack[(*depth)++] = n->child;
    if (cJSON_IsNumber(n)) return n;
  }
  return NULL;
}

cJSON *proto_json_parse(const char *text, size_t len, const char **end) {
  const char *stop = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &stop, false);
  if (end) *end = stop;
  if (!root) return NULL;
  size_t n = stop ? (size_t)(stop - text) : len;
  /* cJSON nests at most CJSON_NESTING_LIMIT (1000) levels. */
  enum { MAX_DEPTH = 1100 };
  cJSON **stack = malloc(MAX_DEPTH * sizeof *stack);
  if (!stack) {
    cJSON_Delete(root);
    return NULL;
  }
  int depth = 1;
  stack[0] = root;
  bool in_str = false;
  for (size_t i = 0; i < n; i++) {
    char c = text[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = false;
      continue;
    }
    if (c == '"') {
      in_str = true;
      continue;
    }
    if (c != '-' && (c < '0' || c > '9')) continue;
    size_t j = i;
    while (j < n && num_char(text[j])) j++;
    cJSON *node = next_number(stack, &depth, MAX_DEPTH);
    if (node && long_int(text + i, j - i) && !node->valuestring) {
      char *s = cJSON_malloc(j - i + 1);
      if (!s) {
        free(stack);
        cJSON_Delete(root);
        return NULL;
      }
      memcpy(s, text + i, j - i);
      s[j - i] = '\0';
      node->valuestring = s;
    }
    i = j - 1;
  }
  free(stack);
  return root;
}

bool proto_json_int64(const cJSON *v, int64_t *out) {
  if (!cJSON_IsNumber(v)) return false;
  if (v->valuestring) {
    errno = 0;
    char *e;
    long long x = strtoll(v->valuestring, &e, 10);
    if (errno == ERANGE || *e) return false;
    *out = (int64_t)x;
    return true;
  }
  double x = v->valuedouble;
  /* -2^63 is exact in a double; 2^63 is the first value out of range. */
  if (x != floor(x) || x < -9223372036854775808.0 || x >= 9223372036854775808.0)
    return false;
  *out = (int64_t)x;
  return true;
}
