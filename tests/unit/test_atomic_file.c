/* test_atomic_file.c - engine/atomic_file: sandboxed file names and the
 * write / commit / abort / map cycle. */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/atomic_file.h"

START_TEST(file_names) {
  ck_assert(bd_file_name_ok("mlp.params"));
  ck_assert(bd_file_name_ok("x-file"));
  ck_assert(!bd_file_name_ok(""));
  ck_assert(!bd_file_name_ok(".."));
  ck_assert(!bd_file_name_ok(".hidden"));
  ck_assert(!bd_file_name_ok("a/b"));
  ck_assert(!bd_file_name_ok("/etc/passwd"));
  ck_assert(!bd_file_name_ok("a\nb"));
  char longn[300];
  memset(longn, 'a', sizeof longn - 1);
  longn[sizeof longn - 1] = 0;
  ck_assert(!bd_file_name_ok(longn));
}
END_TEST

START_TEST(write_commit_abort_map) {
  char dir[] = "/tmp/bd_afile_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_int_eq(bd_atomic_write(dir, "f", "old", 3), BD_OK);
  bd_afile *f;
  ck_assert_int_eq(bd_afile_open(dir, "f", &f), BD_OK);
  ck_assert_int_eq(bd_afile_write(f, "new", 3), BD_OK);
  ck_assert_int_eq(bd_afile_write(f, "er", 2), BD_OK);
  ck_assert_uint_eq(bd_afile_size(f), 5);
  bd_afile_abort(f); /* the old file stays */
  char p[256];
  snprintf(p, sizeof p, "%s/f", dir);
  void *data;
  size_t len;
  ck_assert_int_eq(bd_file_map(p, &data, &len), BD_OK);
  ck_assert_uint_eq(len, 3);
  ck_assert_int_eq(memcmp(data, "old", 3), 0);
  bd_file_unmap(data, len);
  ck_assert_int_eq(bd_afile_open(dir, "f", &f), BD_OK);
  ck_assert_int_eq(bd_afile_write(f, "newer", 5), BD_OK);
  ck_assert_int_eq(bd_afile_commit(f), BD_OK);
  ck_assert_int_eq(bd_file_map(p, &data, &len), BD_OK);
  ck_assert_uint_eq(len, 5);
  ck_assert_int_eq(memcmp(data, "newer", 5), 0);
  bd_file_unmap(data, len);
  snprintf(p, sizeof p, "%s/missing", dir);
  ck_assert_int_eq(bd_file_map(p, &data, &len), BD_ENOTFOUND);
  snprintf(p, sizeof p, "%s/f", dir);
  unlink(p);
  ck_assert_int_eq(rmdir(dir), 0); /* no temporary file left behind */
}
END_TEST

/* Entries of dir other than "." and ".." that start with '.'. */
static int count_hidden(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] == '.' && strcmp(e->d_name, ".") &&
        strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

#define OPENERS 8
#define OPENS_EACH 25

typedef struct opener {
  const char *dir;
  bd_afile *f[OPENS_EACH];
  bd_status s;
} opener;

static void *open_many(void *arg) {
  opener *o = arg;
  for (int i = 0; i < OPENS_EACH && !o->s; i++)
    o->s = bd_afile_open(o->dir, "same", &o->f[i]);
  return NULL;
}

/* Concurrent writers of one target never share a temporary file: every
 * open made its own (all are open at once, so the directory holds one
 * per open), and each commits its own bytes. */
START_TEST(concurrent_opens_get_distinct_temp_files) {
  char dir[] = "/tmp/bd_afile_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  opener o[OPENERS];
  pthread_t th[OPENERS];
  for (int t = 0; t < OPENERS; t++) {
    memset(&o[t], 0, sizeof o[t]);
    o[t].dir = dir;
    ck_assert_int_eq(pthread_create(&th[t], NULL, open_many, &o[t]), 0);
  }
  for (int t = 0; t < OPENERS; t++) {
    pthread_join(th[t], NULL);
    ck_assert_int_eq(o[t].s, BD_OK);
  }
  ck_assert_int_eq(count_hidden(dir), OPENERS * OPENS_EACH);
  for (int t = 0; t < OPENERS; t++)
    for (int i = 0; i < OPENS_EACH; i++) {
      char v[2] = {(char)('a' + t), (char)('a' + i)};
      ck_assert_int_eq(bd_afile_write(o[t].f[i], v, 2), BD_OK);
      ck_assert_int_eq(bd_afile_commit(o[t].f[i]), BD_OK);
    }
  ck_assert_int_eq(count_hidden(dir), 0);
  char p[256];
  snprintf(p, sizeof p, "%s/same", dir);
  void *data;
  size_t len;
  ck_assert_int_eq(bd_file_map(p, &data, &len), BD_OK);
  ck_assert_uint_eq(len, 2);
  ck_assert_int_eq(memcmp(data, "hy", 2), 0); /* the last commit wins */
  bd_file_unmap(data, len);
  unlink(p);
  ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* Writes a small file dir/name. */
static void plant(const char *dir, const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  ck_assert_ptr_nonnull(f);
  fputs("stale", f);
  fclose(f);
}

/* A file left by an earlier process with this pid (the old predictable
 * names) neither blocks a write nor is overwritten by it. */
START_TEST(stale_predictable_names_do_not_collide) {
  char dir[] = "/tmp/bd_afile_XXXXXX", name[128];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  for (int k = 0; k < 4; k++) {
    snprintf(name, sizeof name, ".f.tmp.%ld.%d", (long)getpid(), k);
    plant(dir, name);
  }
  ck_assert_int_eq(bd_atomic_write(dir, "f", "new", 3), BD_OK);
  ck_assert_int_eq(count_hidden(dir), 4);
  ck_assert_int_eq(bd_afile_sweep(dir), 4);
  ck_assert_int_eq(count_hidden(dir), 0);
  char p[256];
  snprintf(p, sizeof p, "%s/f", dir);
  unlink(p);
  ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(temp_name_pattern) {
  ck_assert(bd_afile_is_temp(".state.safetensors.tmp.0123456789abcdef"));
  ck_assert(bd_afile_is_temp(".a.tmp.b.tmp.fedcba9876543210"));
  ck_assert(bd_afile_is_temp(".spec.json.tmp.1.1"));
  ck_assert(bd_afile_is_temp(".x.tmp.123456.789"));
  ck_assert(!bd_afile_is_temp("state.safetensors.tmp.0123456789abcdef"));
  ck_assert(!bd_afile_is_temp(".x.tmp.0123456789ABCDEF")); /* upper case */
  ck_assert(!bd_afile_is_temp(".x.tmp.0123456789abcde"));  /* 15 digits */
  ck_assert(!bd_afile_is_temp(".x.tmp.12ab"));
  ck_assert(!bd_afile_is_temp(".x.tmp.1."));
  ck_assert(!bd_afile_is_temp(".x.tmp..1"));
  ck_assert(!bd_afile_is_temp(".x.tmp.1.2.3"));
  ck_assert(!bd_afile_is_temp(".tmp.0123456789abcdef")); /* no name */
  ck_assert(!bd_afile_is_temp(".notes"));
  ck_assert(!bd_afile_is_temp(""));
  ck_assert(!bd_afile_is_temp(NULL));
}
END_TEST

/* The sweep removes blockd's temporary files only: not other hidden
 * files, not regular names, not directories, not symlinks' targets. */
START_TEST(sweep_removes_only_temp_files) {
  char dir[] = "/tmp/bd_afile_XXXXXX", p[256], q[256];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_int_eq(bd_afile_sweep("/nonexistent/bd_afile"), 0);
  plant(dir, ".m.tmp.00000000000000ff");
  plant(dir, ".m.tmp.7.9");
  plant(dir, ".keep");
  plant(dir, "m");
  snprintf(p, sizeof p, "%s/.d.tmp.0000000000000000", dir);
  ck_assert_int_eq(mkdir(p, 0755), 0);
  snprintf(q, sizeof q, "%s/.l.tmp.1111111111111111", dir);
  snprintf(p, sizeof p, "%s/m", dir);
  ck_assert_int_eq(symlink(p, q), 0);
  ck_assert_int_eq(bd_afile_sweep(dir), 2);
  ck_assert_int_eq(count_hidden(dir), 3);
  ck_assert_int_eq(access(p, F_OK), 0);
  unlink(q);
  unlink(p);
  snprintf(p, sizeof p, "%s/.keep", dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/.d.tmp.0000000000000000", dir);
  rmdir(p);
  ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("atomic_file");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, file_names);
  tcase_add_test(tc, write_commit_abort_map);
  tcase_add_test(tc, concurrent_opens_get_distinct_temp_files);
  tcase_add_test(tc, stale_predictable_names_do_not_collide);
  tcase_add_test(tc, temp_name_pattern);
  tcase_add_test(tc, sweep_removes_only_temp_files);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
