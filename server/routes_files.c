/* routes_files.c - tensor files in data-dir/files/: PUT/GET/DELETE
 * /v1/files/{f} and GET /v1/files. Names are plain names
 * (bd_file_name_ok), and every file is opened relative to the files
 * directory's fd without following links (engine/safe_path.h), so nothing
 * outside that directory is read, listed, written or removed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine/atomic_file.h"
#include "../engine/safe_path.h"
#include "../engine/tensor_store.h"
#include "../proto/checkpoint_json.h"
#include "../proto/json_tensor.h"
#include "files.h"
#include "persist.h"
#include "routes.h"

bd_status srv_files_dir_open(srv_app *app, int *fd) {
  return srv_data_open(app, "files", true, fd);
}

proto_tfile_limits srv_files_limits(srv_app *app) {
  proto_tfile_limits lim = {0};
  lim.max_elems = BD_MAX_NUMEL;
  lim.max_total_bytes = (size_t)app->cfg.max_model_bytes * 2 + (64u << 20);
  return lim;
}

bool srv_file_name_or_400(srv_req *r, const char *name) {
  bd_status s = bd_name_check("file", name);
  if (s) srv_reply_status(r, s);
  return !s;
}

void srv_fmap_release(srv_fmap *m) {
  if (!m) return;
  bd_file_unmap(m->data, m->len);
  m->data = NULL;
  m->len = 0;
}

bd_status srv_files_load(srv_app *app, const char *name, proto_tfile *out,
                         proto_tformat *fmt, srv_fmap *keep) {
  if (keep) keep->data = NULL, keep->len = 0;
  memset(out, 0, sizeof *out);
  bd_status s = bd_name_check("file", name);
  if (s) return s;
  void *data;
  size_t len;
  int dfd;
  s = srv_files_dir_open(app, &dfd);
  if (s) return s;
  s = bd_file_mapat(dfd, name, &data, &len);
  close(dfd);
  if (s == BD_ENOTFOUND)
    return bd_fail(BD_ENOTFOUND, "file '%s' not found", name);
  if (s) return s;
  proto_tfile_limits lim = srv_files_limits(app);
  lim.borrow = keep != NULL;
  s = proto_tfile_parse(data, len, &lim, out, fmt);
  if (s || !keep) {
    bd_file_unmap(data, len);
  } else {
    keep->data = data;
    keep->len = len;
  }
  if (s) bd_fail_prefix(s, "file '%s': ", name);
  return s;
}

/* ---- listing metadata, cached by (name, size, mtime) --------------------- */

typedef struct file_meta {
  char name[BD_FILE_NAME_MAX + 1];
  long long size, mtime_ns;
  char format[16], kind[16], sha[65];
} file_meta;

static pthread_mutex_t meta_mu = PTHREAD_MUTEX_INITIALIZER;
static file_meta *meta_cache;
static size_t meta_n;

static void sha256_hex(const void *p, size_t n, char out[65]) {
  unsigned char md[32];
  unsigned int ml = 0;
  if (!EVP_Digest(p, n, md, &ml, EVP_sha256(), NULL)) ml = 0;
  for (unsigned i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", i < ml ? md[i] : 0);
}

/* One try of file_info; false also when a concurrent PUT replaced the
 * file while it was read. */
static bool file_info_once(srv_app *app, int dfd, const char *name,
                           file_meta *m) {
  struct stat st;
  int fd;
  /* A link, FIFO or device is not listed (and never read). */
  if (bd_file_openat(dfd, name, &fd, NULL)) return false;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return false;
  }
  long long mt =
      (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  pthread_mutex_lock(&meta_mu);
  for (size_t i = 0; i < meta_n; i++)
    if (strcmp(meta_cache[i].name, name) == 0 &&
        meta_cache[i].size == (long long)st.st_size &&
        meta_cache[i].mtime_ns == mt) {
      *m = meta_cache[i];
      pthread_mutex_unlock(&meta_mu);
      close(fd);
      return true;
    }
  pthread_mutex_unlock(&meta_mu);
  memset(m, 0, sizeof *m);
  snprintf(m->name, sizeof m->name, "%s", name);
  m->size = (long long)st.st_size;
  m->mtime_ns = mt;
  void *data;
  size_t len;
  bd_status ms = bd_file_map_fd(fd, name, &data, &len);
  close(fd);
  if (ms) return false;
  /* Files are only ever replaced by rename: if the name still holds the
   * same inode, size and mtime after the map, the listing describes what
   * the name holds now; otherwise a concurrent PUT replaced it in between
   * (describe it next time rather than mix one version's size with
   * another's hash). */
  struct stat st2;
  if (fstatat(dfd, name, &st2, AT_SYMLINK_NOFOLLOW) != 0 ||
      st2.st_ino != st.st_ino || st2.st_size != st.st_size ||
      st2.st_mtim.tv_sec != st.st_mtim.tv_sec ||
      st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec) {
    bd_file_unmap(data, len);
    return false;
  }
  sha256_hex(data ? data : "", len, m->sha);
  proto_tfile tf;
  proto_tformat fmt;
  proto_tfile_limits lim = srv_files_limits(app);
  if (proto_tfile_parse(data, len, &lim, &tf, &fmt) == BD_OK) {
    snprintf(m->format, sizeof m->format, "%s", proto_tformat_name(fmt));
    snprintf(m->kind, sizeof m->kind, "%s", proto_tfile_kind_name(tf.kind));
    proto_tfile_clear(&tf);
  } else {
    snprintf(m->format, sizeof m->format, "invalid");
    snprintf(m->kind, sizeof m->kind, "unknown");
  }
  bd_file_unmap(data, len);
  pthread_mutex_lock(&meta_mu);
  size_t i;
  for (i = 0; i < meta_n; i++)
    if (strcmp(meta_cache[i].name, name) == 0) break;
  if (i == meta_n) {
    file_meta *nm = realloc(meta_cache, (meta_n + 1) * sizeof *nm);
    if (nm) {
      meta_cache = nm;
      meta_n++;
    } else {
      i = (size_t)-1;
    }
  }
  if (i != (size_t)-1) meta_cache[i] = *m;
  pthread_mutex_unlock(&meta_mu);
  return true;
}

/* Fills m for dir/name (valid regular file); false when unreadable. */
static bool file_info(srv_app *app, int dfd, const char *name, file_meta *m) {
  for (int i = 0; i < 4; i++)
    if (file_info_once(app, dfd, name, m)) return true;
  return false;
}

static cJSON *meta_json(const file_meta *m) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "name", m->name);
  cJSON_AddNumberToObject(j, "size", (double)m->size);
  cJSON_AddStringToObject(j, "format", m->format);
  cJSON_AddStringToObject(j, "kind", m->kind);
  cJSON_AddStringToObject(j, "sha256", m->sha);
  cJSON_AddNumberToObject(j, "mtime", (double)m->mtime_ns / 1e9);
  return j;
}

/* ---- PUT ----------------------------------------------------------------- */

/* The tensors named by spec ("x" | ["x","y"] | {"k":"x"}) from the store. */
static int tensors_from_store(srv_req *r, const cJSON *spec, proto_tfile *tf) {
  const cJSON *it;
  if (cJSON_IsString(spec)) {
    tf->kind = PROTO_TFILE_TENSOR;
  } else if (cJSON_IsArray(spec)) {
    tf->kind = PROTO_TFILE_LIST;
  } else if (cJSON_IsObject(spec)) {
    tf->kind = PROTO_TFILE_DICT;
  } else {
    srv_fail(r, BD_EINVAL,
             "tensors: give a tensor name, a list of names or an "
             "object of key: name");
    return -1;
  }
  int i = 0;
  for (it = cJSON_IsString(spec) ? spec : spec->child; it;
       it = cJSON_IsString(spec) ? NULL : it->next, i++) {
    if (!cJSON_IsString(it)) {
      srv_fail(r, BD_EINVAL, "tensors: entries must be tensor names (strings)");
      return -1;
    }
    bd_tensor *t = bd_tensor_store_get(r->app->tensors, it->valuestring);
    if (!t) {
      srv_fail(r, BD_ENOTFOUND,
               "tensors: tensor '%.200s' not "
               "found",
               it->valuestring);
      return -1;
    }
    char key[32];
    snprintf(key, sizeof key, "%d", i);
    const char *k = tf->kind == PROTO_TFILE_TENSOR ? "tensor"
                    : tf->kind == PROTO_TFILE_LIST ? key
                                                   : it->string;
    /* Named tensors may live on a GPU: files are written from the host. */
    bd_status s = BD_OK;
    if (bd_tensor_device(t).type != BD_DEV_CPU) {
      bd_tensor *h = NULL;
      s = bd_tensor_to(t, BD_CPU, &h);
      bd_tensor_release(t);
      t = h;
    }
    if (!s) s = bd_named_tensors_add(&tf->list, k, t);
    bd_tensor_release(t);
    if (s) {
      srv_reply_status(r, s);
      return -1;
    }
  }
  return 0;
}

/* Writes the tfile in fmt to files/name atomically. */
static bd_status write_tfile(srv_app *app, const char *name,
                             const proto_tfile *tf, proto_tformat fmt) {
  char prefix[BD_FILE_NAME_MAX + 1];
  /* torch.save names the archive after the file, without extension. */
  snprintf(prefix, sizeof prefix, "%s", name);
  char *dot = strchr(prefix, '.');
  if (dot && dot != prefix) *dot = 0;
  int dfd;
  bd_status s = srv_files_dir_open(app, &dfd);
  if (s) return s;
  bd_afile *f;
  s = bd_afile_openat(dfd, name, &f);
  close(dfd);
  if (s) return s;
  s = proto_tfile_encode(tf, fmt, prefix, NULL, proto_afile_sink(f));
  if (s) {
    bd_afile_abort(f);
    return s;
  }
  return bd_afile_commit(f);
}

static int reply_info(srv_req *r, const char *name, unsigned status) {
  file_meta m;
  int dfd;
  bd_status s = srv_files_dir_open(r->app, &dfd);
  if (s) return srv_reply_status(r, s);
  bool ok = file_info(r->app, dfd, name, &m);
  close(dfd);
  if (!ok) return srv_fail(r, BD_EIO, "cannot stat file '%s'", name);
  return srv_reply_json(r, status, meta_json(&m));
}

/* Saving a model's state_dict as a file: the export shares the host
 * tensors of CPU models, so it is encoded under the model's read lock. */
typedef struct export_ctx {
  srv_app *app;
  const char *name;
  proto_tformat fmt;
} export_ctx;

static bd_status export_cb(bd_model *m, const bd_model_info *info, void *ctx) {
  (void)info;
  export_ctx *c = ctx;
  proto_tfile tf;
  bd_status s = proto_checkpoint_export(m, false, &tf);
  if (!s) s = write_tfile(c->app, c->name, &tf, c->fmt);
  proto_tfile_clear(&tf);
  return s;
}

/* Serialises PUT and DELETE of files, so that a PUT's reply describes the
 * file it wrote (not a 500 because a concurrent DELETE removed it before
 * the stat, nor the bytes of a concurrent PUT) and the 200/201 it gives is
 * right. GETs do not take it: they map the file, which stays valid across
 * a rename or unlink. Lock order: files_mu, then a model's lock. */
static pthread_mutex_t files_mu = PTHREAD_MUTEX_INITIALIZER;

static int files_put_locked(srv_req *r);

int srv_files_put(srv_req *r) {
  if (!srv_file_name_or_400(r, r->args[0])) return 0;
  pthread_mutex_lock(&files_mu);
  int rc = files_put_locked(r);
  pthread_mutex_unlock(&files_mu);
  return rc;
}

static int files_put_locked(srv_req *r) {
  const char *name = r->args[0];
  char ct[128];
  srv_content_type(r, ct, sizeof ct);
  int dfd;
  bd_status s = srv_files_dir_open(r->app, &dfd);
  if (s) return srv_reply_status(r, s);
  struct stat st;
  bool existed = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (strcmp(ct, "application/octet-stream") == 0) {
    /* A raw upload is stored only if it parses as a tensor file. */
    proto_tfile tf;
    proto_tfile_limits lim = srv_files_limits(r->app);
    s = proto_tfile_parse(r->body, r->body_len, &lim, &tf, NULL);
    proto_tfile_clear(&tf);
    if (s) {
      close(dfd);
      return srv_reply_status(r, bd_fail_prefix(s, "upload: "));
    }
    s = bd_atomic_writeat(dfd, name, r->body, r->body_len);
    close(dfd);
    if (s) return srv_reply_status(r, s);
    return reply_info(r, name, existed ? 200 : 201);
  }
  close(dfd);
  cJSON *j = srv_json_body(r, false);
  if (!j) return 0;
  proto_tfile tf = {0};
  bd_model *m = NULL;
  const cJSON *tens = cJSON_GetObjectItemCaseSensitive(j, "tensors");
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
  const cJSON *fmtj = cJSON_GetObjectItemCaseSensitive(j, "format");
  proto_tformat fmt = PROTO_TFORMAT_SAFETENSORS;
  static const char *const keys[] = {"tensors", "model", "format", NULL};
  if (!srv_json_check_keys(r, j, "", keys)) goto out;
  if (fmtj && (!cJSON_IsString(fmtj) ||
               !proto_tformat_parse(fmtj->valuestring, &fmt))) {
    srv_fail(r, BD_EINVAL, "format: must be \"safetensors\" or \"torch\"");
    goto out;
  }
  if (!tens == !model) {
    srv_fail(r, BD_EINVAL,
             "give either tensors (a name, a list or an object of "
             "names) or model (a model name)");
    goto out;
  }
  if (tens) {
    if (tensors_from_store(r, tens, &tf)) goto out;
    s = write_tfile(r->app, name, &tf, fmt);
  } else {
    if (!cJSON_IsString(model)) {
      srv_fail(r, BD_EINVAL, "model: must be a string");
      goto out;
    }
    m = srv_model_or_404(r, model->valuestring);
    if (!m) goto out;
    export_ctx c = {.app = r->app, .name = name, .fmt = fmt};
    s = bd_model_read(m, export_cb, &c);
  }
  if (s)
    srv_reply_status(r, s);
  else
    reply_info(r, name, existed ? 200 : 201);
out:
  bd_model_release(m);
  proto_tfile_clear(&tf);
  cJSON_Delete(j);
  return 0;
}

/* ---- GET / DELETE / list ------------------------------------------------- */

int srv_files_list(srv_req *r) {
  int dfd;
  bd_status s = srv_files_dir_open(r->app, &dfd);
  if (s) return srv_reply_status(r, s);
  int lfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
  if (!d) {
    int err = errno;
    if (lfd >= 0) close(lfd);
    close(dfd);
    return srv_fail(r, BD_EIO, "cannot list the files directory: %s",
                    strerror(err));
  }
  cJSON *j = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(j, "files");
  struct dirent *e;
  char **names = NULL;
  size_t n = 0;
  while ((e = readdir(d))) {
    if (!bd_file_name_ok(e->d_name)) continue; /* temp files start with . */
    char **nn = realloc(names, (n + 1) * sizeof *nn);
    if (!nn) break;
    names = nn;
    if ((names[n] = strdup(e->d_name))) n++;
  }
  closedir(d);
  for (size_t i = 0; i < n; i++)
    for (size_t k = i + 1; k < n; k++)
      if (strcmp(names[k], names[i]) < 0) {
        char *t = names[i];
        names[i] = names[k];
        names[k] = t;
      }
  for (size_t i = 0; i < n; i++) {
    file_meta m;
    if (file_info(r->app, dfd, names[i], &m))
      cJSON_AddItemToArray(arr, meta_json(&m));
    free(names[i]);
  }
  free(names);
  close(dfd);
  return srv_reply_json(r, 200, j);
}

int srv_files_get(srv_req *r) {
  const char *name = r->args[0];
  if (!srv_file_name_or_400(r, name)) return 0;
  const char *acc = srv_header(r, "Accept");
  if (acc && strstr(acc, "application/octet-stream")) {
    void *data;
    size_t len;
    int dfd;
    bd_status s = srv_files_dir_open(r->app, &dfd);
    if (s) return srv_reply_status(r, s);
    s = bd_file_mapat(dfd, name, &data, &len);
    close(dfd);
    if (s == BD_ENOTFOUND)
      return srv_fail(r, BD_ENOTFOUND, "file '%s' not found", name);
    if (s) return srv_reply_status(r, s);
    char *copy = malloc(len ? len : 1);
    if (!copy) {
      bd_file_unmap(data, len);
      return srv_fail(r, BD_ENOMEM, "out of memory");
    }
    if (len) memcpy(copy, data, len);
    bd_file_unmap(data, len);
    snprintf(r->content_disposition, sizeof r->content_disposition,
             "attachment; filename=\"%s\"", name);
    return srv_reply_bytes(r, 200, copy, len, "application/octet-stream");
  }
  proto_tfile tf;
  proto_tformat fmt;
  srv_fmap fm;
  bd_status s = srv_files_load(r->app, name, &tf, &fmt, &fm);
  if (s) return srv_reply_status(r, s);
  int64_t total = 0;
  /* Spans, not numels: a [2^40, 0] tensor prints 2^40 nested "[]". */
  for (size_t i = 0; i < tf.list.n; i++)
    total += bd_shape_span(tf.list.tensors[i]->ndim, tf.list.tensors[i]->shape);
  if (total > r->app->cfg.max_elements) {
    proto_tfile_clear(&tf);
    srv_fmap_release(&fm);
    return srv_fail(r, BD_ETOOLARGE,
                    "file '%s' holds %lld elements, more than "
                    "--max-elements (%lld) in JSON; download it with "
                    "Accept: application/octet-stream",
                    name, (long long)total,
                    (long long)r->app->cfg.max_elements);
  }
  int64_t bound = 4096 + (tf.spec ? 2 * (int64_t)strlen(tf.spec) : 0);
  for (size_t i = 0; i < tf.list.n; i++) {
    const bd_tensor *t = tf.list.tensors[i];
    bound = srv_sat_add(bound,
                        proto_tensor_json_bound(t->dtype, t->ndim, t->shape));
    if (tf.list.names && tf.list.names[i])
      bound = srv_sat_add(bound, 6 * (int64_t)strlen(tf.list.names[i]) + 8);
  }
  s = srv_json_budget(&r->app->cfg, bound,
                      "download it with Accept: application/octet-stream");
  if (s) {
    proto_tfile_clear(&tf);
    srv_fmap_release(&fm);
    return srv_reply_status(r, s);
  }
  bool flat = r->q.layout_flat;
  proto_buf b = {0};
  proto_buf_puts(&b, "{\"name\":");
  proto_buf_json_str(&b, name);
  proto_buf_printf(&b, ",\"format\":\"%s\",\"kind\":\"%s\"",
                   proto_tformat_name(fmt), proto_tfile_kind_name(tf.kind));
  if (tf.spec) {
    cJSON *spec = cJSON_Parse(tf.spec);
    char *txt = spec ? cJSON_PrintUnformatted(spec) : NULL;
    if (txt) {
      proto_buf_puts(&b, ",\"block\":");
      proto_buf_puts(&b, txt);
    }
    free(txt);
    cJSON_Delete(spec);
  }
  proto_buf_puts(&b, ",\"values\":");
  if (tf.kind == PROTO_TFILE_TENSOR && tf.list.n == 1) {
    proto_tensor_write(&b, tf.list.tensors[0], flat);
  } else {
    bool list = tf.kind == PROTO_TFILE_LIST;
    proto_buf_puts(&b, list ? "[" : "{");
    for (size_t i = 0; i < tf.list.n; i++) {
      if (i) proto_buf_puts(&b, ",");
      if (!list) {
        proto_buf_json_str(&b, tf.list.names[i]);
        proto_buf_puts(&b, ":");
      }
      proto_tensor_write(&b, tf.list.tensors[i], flat);
    }
    proto_buf_puts(&b, list ? "]" : "}");
  }
  proto_buf_puts(&b, "}");
  proto_tfile_clear(&tf);
  srv_fmap_release(&fm);
  return srv_reply_buf(r, 200, &b, "application/json");
}

int srv_files_delete(srv_req *r) {
  const char *name = r->args[0];
  if (!srv_file_name_or_400(r, name)) return 0;
  int dfd;
  bd_status s = srv_files_dir_open(r->app, &dfd);
  if (s) return srv_reply_status(r, s);
  pthread_mutex_lock(&files_mu);
  /* unlinkat removes a planted link itself, never its target. */
  int rc = unlinkat(dfd, name, 0), err = errno;
  close(dfd);
  /* Forget its cached metadata, so the cache stays as small as the dir. */
  pthread_mutex_lock(&meta_mu);
  for (size_t i = 0; i < meta_n; i++)
    if (strcmp(meta_cache[i].name, name) == 0) {
      meta_cache[i] = meta_cache[--meta_n];
      break;
    }
  pthread_mutex_unlock(&meta_mu);
  pthread_mutex_unlock(&files_mu);
  if (rc != 0)
    return err == ENOENT
               ? srv_fail(r, BD_ENOTFOUND, "file '%s' not found", name)
               : srv_fail(r, BD_EIO, "cannot delete '%s': %s", name,
                          strerror(err));
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "deleted", name);
  return srv_reply_json(r, 200, j);
}
