/* The durable result log: segments, group commit off the loop thread,
 * CRC-checked records, retention by age and size, the start-up scan.
 * Format and threading: resultlog.h.
 *
 * Who touches what: the fill buffer, the generations and the handles
 * belong to the loop thread. The write buffer and the open segment (fd,
 * size, number) belong to the thread-pool job while one is in flight
 * (in_flight), to the loop thread otherwise; uv_queue_work's
 * happens-before edges hand them over, no lock is needed. */
#include "resultlog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vtg/bytes.h"
#include "vtg/clock.h"
#include "vtg/crc.h"
#include "vtg/error.h"
#include "vtg/log.h"

#define SEG_MAGIC "VTGRLOG1"
#define SEG_MAGIC_LEN 8
#define REC_MAGIC 0x52475456u /* "VTGR" little endian */
#define REC_HEAD 12            /* magic, length, crc */
#define BODY_FIXED 36          /* version, two lengths, pad, epoch, seq, offset, start */
#define MAX_BODY (BODY_FIXED + 255 + 255 + VTG_RESULTLOG_MAX_RESULT)
#define MAX_SEGMENT_READ (4ull << 30) /* a segment file larger than this is not ours */
#define RETRY_MS 1000
#define PATH_LEN 4096

struct vtg_resultlog_s {
  uv_loop_t *loop;
  vtg_resultlog_opts_t opts;
  char *dir;
  vtg_resultlog_durable_cb cb;
  void *ctx;
  uv_async_t wake;       /* the first append of a group: start a write soon */
  uv_timer_t retry;      /* after a failed write */
  uv_work_t work;
  int handles;           /* open handles; freed at 0 once closing and idle */
  int closing, in_flight, retry_armed, failed_closing;
  /* loop thread: */
  uint8_t *fill;
  size_t fill_len, fill_alloc;
  uint64_t fill_recs, fill_gen, durable_gen;
  /* the job's while in flight: */
  uint8_t *wbuf;
  size_t wlen, walloc;
  uint64_t wrecs, wgen;
  int wstatus;
  int fd;
  uint64_t seg_no, seg_bytes;
  int64_t seg_created_us;
  uint64_t deleted;      /* by the job, added to the counters after it */
  int64_t wdur_us;       /* by the job: how long it took, observed after it */
  vtg_resultlog_counters_t n;
};

/* ---------------------------------------------------------------- bytes */


/* ------------------------------------------------------------- segments */

static int seg_path(const char *dir, uint64_t no, char *out, size_t n) {
  int k = snprintf(out, n, "%s/seg-%020" PRIu64 ".log", dir, no);
  return k < 0 || (size_t)k >= n ? VTG_EINVAL : 0;
}

/* "seg-<20 digits>.log" -> its number; 0 when the name is not a segment's. */
static uint64_t seg_number(const char *name) {
  if (strlen(name) != 28 || strncmp(name, "seg-", 4) != 0 || strcmp(name + 24, ".log") != 0)
    return 0;
  uint64_t v = 0;
  for (int i = 4; i < 24; i++) {
    if (name[i] < '0' || name[i] > '9') return 0;
    v = v * 10 + (uint64_t)(name[i] - '0');
  }
  return v;
}

typedef struct seg_s {
  uint64_t no;
  uint64_t size;
  int64_t mtime_us;
} seg_t;

static int seg_cmp(const void *a, const void *b) {
  const seg_t *x = a, *y = b;
  return x->no < y->no ? -1 : x->no > y->no;
}

/* The segments of dir sorted by number (*out malloc'd, may be NULL when
 * none). A missing dir is empty. Returns 0, VTG_EIO or VTG_ENOMEM. */
static int seg_list(const char *dir, seg_t **out, size_t *n_out) {
  DIR *d = opendir(dir);
  seg_t *v = NULL;
  size_t n = 0, alloc = 0;
  int err = 0;
  *out = NULL;
  *n_out = 0;
  if (d == NULL) return errno == ENOENT ? 0 : VTG_EIO;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    uint64_t no = seg_number(e->d_name);
    if (no == 0) continue;
    char path[PATH_LEN];
    struct stat st;
    if (seg_path(dir, no, path, sizeof path) != 0 || stat(path, &st) != 0) continue;
    if (n == alloc) {
      size_t na = alloc ? alloc * 2 : 16;
      seg_t *nv = realloc(v, na * sizeof *nv);
      if (nv == NULL) {
        err = VTG_ENOMEM;
        goto out;
      }
      v = nv;
      alloc = na;
    }
    v[n].no = no;
    v[n].size = (uint64_t)st.st_size;
    v[n].mtime_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
    n++;
  }
  if (n > 1) qsort(v, n, sizeof *v, seg_cmp);
out:
  closedir(d);
  if (err) {
    free(v);
    return err;
  }
  *out = v;
  *n_out = n;
  return 0;
}

/* Deletes segments older than the retention and the oldest ones while the
 * total exceeds max_bytes; never the one being written (keep_no). Returns
 * how many went. Any thread (only one job runs at a time). */
static uint64_t apply_retention(const vtg_resultlog_opts_t *o, const char *dir, uint64_t keep_no) {
  seg_t *v;
  size_t n;
  uint64_t deleted = 0, total = 0;
  if (o->retention_us <= 0 && o->max_bytes == 0) return 0;
  if (seg_list(dir, &v, &n) != 0) return 0;
  int64_t now = vtg_clock_wall_us();
  for (size_t i = 0; i < n; i++) total += v[i].size;
  for (size_t i = 0; i < n; i++) {
    if (v[i].no == keep_no) continue;
    int old = o->retention_us > 0 && v[i].mtime_us < now - o->retention_us;
    int big = o->max_bytes > 0 && total > o->max_bytes;
    if (!old && !big) continue;
    char path[PATH_LEN];
    if (seg_path(dir, v[i].no, path, sizeof path) != 0) continue;
    if (unlink(path) != 0) {
      VTG_WARN("result log: cannot delete %s: %s", path, strerror(errno));
      continue;
    }
    VTG_INFO("result log: deleted %s (%" PRIu64 " bytes, %s)", path, v[i].size,
             old ? "older than the retention" : "over result_log_max_bytes");
    total -= v[i].size;
    deleted++;
  }
  free(v);
  return deleted;
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return VTG_EIO;
  int rc = fsync(fd) == 0 ? 0 : VTG_EIO;
  close(fd);
  return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Opens segment no (new, exclusive) with its header on disk and the
 * directory entry synced. On success sets l->fd and friends. */
static int seg_create(vtg_resultlog_t *l, uint64_t no) {
  char path[PATH_LEN];
  int err;
  if ((err = seg_path(l->dir, no, path, sizeof path)) != 0) return err;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    VTG_ERROR("result log: cannot create %s: %s", path, strerror(errno));
    return VTG_EIO;
  }
  if (write_all(fd, (const uint8_t *)SEG_MAGIC, SEG_MAGIC_LEN) != 0 || fdatasync(fd) != 0 ||
      fsync_dir(l->dir) != 0) {
    VTG_ERROR("result log: cannot initialise %s: %s", path, strerror(errno));
    close(fd);
    unlink(path);
    return VTG_EIO;
  }
  l->fd = fd;
  l->seg_no = no;
  l->seg_bytes = SEG_MAGIC_LEN;
  l->seg_created_us = vtg_clock_wall_us();
  return 0;
}

/* ------------------------------------------------------------- the job */

/* Thread pool: rotate if due, write the buffer, fdatasync. A failed write
 * is cut back to the last good size so the segment never holds half a
 * group (the scan would skip it anyway; this keeps retries clean). */
static void work_cb(uv_work_t *req) {
  vtg_resultlog_t *l = req->data;
  int64_t now = vtg_clock_wall_us(), t0 = vtg_clock_mono_us();
  int rotated = 0;
  l->wstatus = 0;
  if (l->fd < 0 || (l->seg_bytes > SEG_MAGIC_LEN &&
                    (l->seg_bytes + l->wlen > l->opts.segment_bytes ||
                     now - l->seg_created_us > VTG_RESULTLOG_SEGMENT_AGE_US))) {
    if (l->fd >= 0) {
      (void)fdatasync(l->fd);
      close(l->fd);
      l->fd = -1;
    }
    if ((l->wstatus = seg_create(l, l->seg_no + 1)) != 0) return;
    rotated = 1;
  }
  int err = write_all(l->fd, l->wbuf, l->wlen);
  if (err == 0 && fdatasync(l->fd) != 0) err = -errno;
  if (err != 0) {
    VTG_ERROR("result log: writing %zu bytes to segment %" PRIu64 " failed: %s", l->wlen,
              l->seg_no, strerror(-err));
    if (ftruncate(l->fd, (off_t)l->seg_bytes) != 0) {
      /* The tail may hold a partial group; start a fresh segment next time
       * (the scan skips the damaged tail). */
      close(l->fd);
      l->fd = -1;
    }
    l->wstatus = VTG_EIO;
    return;
  }
  l->seg_bytes += l->wlen;
  l->wdur_us = vtg_clock_mono_us() - t0; /* the commit, without the retention sweep */
  if (rotated) l->deleted += apply_retention(&l->opts, l->dir, l->seg_no);
}

static void start_write(vtg_resultlog_t *l);
static void maybe_free(vtg_resultlog_t *l);

static void retry_cb(uv_timer_t *t) {
  vtg_resultlog_t *l = t->data;
  l->retry_armed = 0;
  start_write(l);
}

static void after_work_cb(uv_work_t *req, int status) {
  vtg_resultlog_t *l = req->data;
  l->in_flight = 0;
  if (status == 0 && l->wstatus == 0) {
    l->durable_gen = l->wgen;
    l->n.records += l->wrecs;
    l->n.bytes += l->wlen;
    l->n.commits++;
    vtg_histo_observe(&l->n.commit_seconds, &vtg_histo_io_bounds, (double)l->wdur_us / 1e6);
    l->n.segments_deleted += l->deleted;
    l->deleted = 0;
    l->wlen = 0;
    l->wrecs = 0;
    if (l->cb) l->cb(l->ctx, l->durable_gen);
    if (l->fill_len > 0) start_write(l); /* what arrived meanwhile: the next group */
  } else {
    l->n.write_errors++;
    if (l->closing && l->failed_closing++ > 0) {
      VTG_ERROR("result log: giving up on %" PRIu64 " records at shutdown (not acknowledged; "
                "the agents still hold them)",
                l->wrecs + l->fill_recs);
      l->wlen = l->fill_len = 0;
      l->wrecs = l->fill_recs = 0;
    } else if (uv_timer_start(&l->retry, retry_cb, RETRY_MS, 0) == 0) {
      l->retry_armed = 1;
    }
  }
  maybe_free(l);
}

/* Hands the pending bytes to the thread pool unless a job runs or a
 * retry waits. A failed group is retried with the newer appends behind it. */
static void start_write(vtg_resultlog_t *l) {
  if (l->in_flight || l->retry_armed) return;
  if (l->wlen == 0) {
    if (l->fill_len == 0) return;
    uint8_t *b = l->wbuf;
    size_t a = l->walloc;
    l->wbuf = l->fill;
    l->walloc = l->fill_alloc;
    l->wlen = l->fill_len;
    l->wrecs = l->fill_recs;
    l->fill = b;
    l->fill_alloc = a;
    l->fill_len = 0;
    l->fill_recs = 0;
    l->wgen = l->fill_gen++;
  } else if (l->fill_len > 0) {
    if (l->wlen + l->fill_len > l->walloc) {
      uint8_t *nb = realloc(l->wbuf, l->wlen + l->fill_len);
      if (nb == NULL) goto later;
      l->wbuf = nb;
      l->walloc = l->wlen + l->fill_len;
    }
    memcpy(l->wbuf + l->wlen, l->fill, l->fill_len);
    l->wlen += l->fill_len;
    l->wrecs += l->fill_recs;
    l->fill_len = 0;
    l->fill_recs = 0;
    l->wgen = l->fill_gen++;
  }
  l->work.data = l;
  int err = uv_queue_work(l->loop, &l->work, work_cb, after_work_cb);
  if (err) {
    VTG_ERROR("result log: cannot queue a write: %s", uv_strerror(err));
    goto later;
  }
  l->in_flight = 1;
  return;
later:
  if (!l->closing && uv_timer_start(&l->retry, retry_cb, RETRY_MS, 0) == 0) l->retry_armed = 1;
}

/* The async wake-up runs in the loop's next poll phase: every batch read
 * before it (the rest of this iteration's reads) joins the same group. */
static void wake_cb(uv_async_t *h) {
  vtg_resultlog_t *l = h->data;
  if (l->fill_len > 0 || l->wlen > 0) start_write(l);
}

/* --------------------------------------------------------------- public */

int vtg_resultlog_open(uv_loop_t *loop, const vtg_resultlog_opts_t *opts,
                       vtg_resultlog_durable_cb cb, void *ctx, vtg_resultlog_t **out) {
  int err;
  seg_t *segs = NULL;
  size_t n = 0;
  vtg_resultlog_t *l = calloc(1, sizeof *l);
  if (l == NULL) return VTG_ENOMEM;
  l->loop = loop;
  l->opts = *opts;
  if (l->opts.segment_bytes == 0) l->opts.segment_bytes = VTG_RESULTLOG_SEGMENT_BYTES;
  l->cb = cb;
  l->ctx = ctx;
  l->fd = -1;
  l->fill_gen = 1;
  size_t dl = strlen(opts->dir);
  if ((l->dir = malloc(dl + 1)) == NULL) {
    err = VTG_ENOMEM;
    goto fail;
  }
  memcpy(l->dir, opts->dir, dl + 1);
  l->opts.dir = l->dir;
  if (mkdir(l->dir, 0700) != 0 && errno != EEXIST) {
    VTG_ERROR("result log: cannot create %s: %s", l->dir, strerror(errno));
    err = VTG_EIO;
    goto fail;
  }
  if ((err = seg_list(l->dir, &segs, &n)) != 0) {
    VTG_ERROR("result log: cannot list %s: %s", l->dir, vtg_strerror(err));
    goto fail;
  }
  /* Always a fresh segment: never append behind a tail a crash may have
   * torn. */
  if ((err = seg_create(l, n ? segs[n - 1].no + 1 : 1)) != 0) goto fail;
  free(segs);
  l->n.segments_deleted += apply_retention(&l->opts, l->dir, l->seg_no);
  if ((err = uv_async_init(loop, &l->wake, wake_cb)) != 0) {
    VTG_ERROR("result log: %s", uv_strerror(err));
    goto fail_fd;
  }
  l->wake.data = l;
  uv_timer_init(loop, &l->retry);
  l->retry.data = l;
  l->handles = 2;
  *out = l;
  return 0;
fail_fd:
  close(l->fd);
fail:
  free(segs);
  free(l->dir);
  free(l);
  return err;
}

int vtg_resultlog_append(vtg_resultlog_t *l, const vtg_resultlog_rec_t *r) {
  size_t il = strlen(r->agent), rl = r->region ? strlen(r->region) : 0;
  if (il == 0 || il > 255 || rl > 255 || r->result_len > VTG_RESULTLOG_MAX_RESULT)
    return VTG_EINVAL;
  size_t body = BODY_FIXED + il + rl + r->result_len, need = REC_HEAD + body;
  if (l->fill_len + l->wlen + need > VTG_RESULTLOG_MAX_PENDING) return VTG_ELIMIT;
  if (l->fill_len + need > l->fill_alloc) {
    size_t na = l->fill_alloc ? l->fill_alloc : 64 * 1024;
    while (na < l->fill_len + need) na *= 2;
    uint8_t *nb = realloc(l->fill, na);
    if (nb == NULL) return VTG_ENOMEM;
    l->fill = nb;
    l->fill_alloc = na;
  }
  uint8_t *p = l->fill + l->fill_len, *b = p + REC_HEAD;
  b[0] = 1;
  b[1] = (uint8_t)il;
  b[2] = (uint8_t)rl;
  b[3] = 0;
  vtg_put_le64(b + 4, r->epoch);
  vtg_put_le64(b + 12, r->seq);
  vtg_put_le64(b + 20, (uint64_t)r->offset_us);
  vtg_put_le64(b + 28, (uint64_t)r->start_us);
  memcpy(b + BODY_FIXED, r->agent, il);
  if (rl) memcpy(b + BODY_FIXED + il, r->region, rl);
  if (r->result_len) memcpy(b + BODY_FIXED + il + rl, r->result, r->result_len);
  vtg_put_le32(p, REC_MAGIC);
  vtg_put_le32(p + 4, (uint32_t)body);
  vtg_put_le32(p + 8, vtg_crc32c(0, b, body));
  if (l->fill_len == 0) uv_async_send(&l->wake);
  l->fill_len += need;
  l->fill_recs++;
  return 0;
}

uint64_t vtg_resultlog_barrier(const vtg_resultlog_t *l) {
  if (l->fill_len > 0) return l->fill_gen;
  if (l->in_flight || l->retry_armed || l->wlen > 0) return l->wgen;
  return l->durable_gen;
}

uint64_t vtg_resultlog_durable_gen(const vtg_resultlog_t *l) {
  return l->durable_gen;
}

void vtg_resultlog_counters(const vtg_resultlog_t *l, vtg_resultlog_counters_t *out) {
  *out = l->n;
}

/* The loop thread's own sweep (coord.c, hourly): an idle log never
 * rotates, and rotation is when the job sweeps. It runs only while no job
 * is in flight, because the open segment's number belongs to the job then
 * (see the top of this file); with none in flight l->seg_no is the segment
 * being appended to and apply_retention never deletes it. Nothing else
 * here is "not yet replayed": the start-up scan reads every segment before
 * vtg_resultlog_open, and every record written since went to the detector
 * when it was appended. */
int vtg_resultlog_prune(vtg_resultlog_t *l) {
  if (l->in_flight || l->closing) return UV_EBUSY;
  uint64_t n = apply_retention(&l->opts, l->dir, l->seg_no);
  l->n.segments_deleted += n;
  return n > (uint64_t)INT_MAX ? INT_MAX : (int)n;
}

static void handle_closed(uv_handle_t *h) {
  vtg_resultlog_t *l = h->data;
  l->handles--;
  maybe_free(l);
}

/* Once closing, idle (no job, nothing left to write or given up) and the
 * handles are closed: the segment is synced and closed, l freed. */
static void maybe_free(vtg_resultlog_t *l) {
  if (!l->closing || l->in_flight) return;
  if (l->fill_len > 0 || l->wlen > 0) {
    if (!l->retry_armed) start_write(l);
    if (l->in_flight || l->retry_armed) return;
    /* Could not even queue it: give up rather than hang the shutdown. */
    VTG_ERROR("result log: %" PRIu64 " records not written at shutdown",
              l->wrecs + l->fill_recs);
    l->fill_len = l->wlen = 0;
  }
  if (l->handles == 2 && !uv_is_closing((uv_handle_t *)&l->wake)) {
    uv_close((uv_handle_t *)&l->wake, handle_closed);
    uv_close((uv_handle_t *)&l->retry, handle_closed);
    return;
  }
  if (l->handles > 0) return;
  if (l->fd >= 0) {
    (void)fdatasync(l->fd);
    close(l->fd);
  }
  free(l->fill);
  free(l->wbuf);
  free(l->dir);
  free(l);
}

void vtg_resultlog_close(vtg_resultlog_t *l) {
  if (l == NULL || l->closing) return;
  l->closing = 1;
  maybe_free(l);
}

/* ----------------------------------------------------------------- scan */

/* Parses the record at p (n bytes available). Returns its total size, or
 * 0 when it is not a valid record there. */
static size_t parse_rec(const uint8_t *p, size_t n, vtg_resultlog_rec_t *r, char *id,
                        char *region) {
  if (n < REC_HEAD + BODY_FIXED || vtg_get_le32(p) != REC_MAGIC) return 0;
  uint32_t body = vtg_get_le32(p + 4);
  if (body < BODY_FIXED || body > MAX_BODY || body > n - REC_HEAD) return 0;
  const uint8_t *b = p + REC_HEAD;
  if (vtg_crc32c(0, b, body) != vtg_get_le32(p + 8)) return 0;
  size_t il = b[1], rl = b[2];
  if (b[0] != 1 || il == 0 || BODY_FIXED + il + rl > body) return 0;
  memcpy(id, b + BODY_FIXED, il);
  id[il] = '\0';
  memcpy(region, b + BODY_FIXED + il, rl);
  region[rl] = '\0';
  r->agent = id;
  r->region = region;
  r->epoch = vtg_get_le64(b + 4);
  r->seq = vtg_get_le64(b + 12);
  r->offset_us = (int64_t)vtg_get_le64(b + 20);
  r->start_us = (int64_t)vtg_get_le64(b + 28);
  r->result = b + BODY_FIXED + il + rl;
  r->result_len = body - BODY_FIXED - il - rl;
  return REC_HEAD + body;
}

static int read_file(const char *path, uint8_t **out, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  int err = VTG_EIO;
  uint8_t *buf = NULL;
  if (fd < 0) return VTG_EIO;
  if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > MAX_SEGMENT_READ) goto out;
  size_t n = (size_t)st.st_size, got = 0;
  if ((buf = malloc(n ? n : 1)) == NULL) {
    err = VTG_ENOMEM;
    goto out;
  }
  while (got < n) {
    ssize_t k = read(fd, buf + got, n - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
  }
  *out = buf;
  *len = got; /* a file that shrank under us reads as a truncated tail */
  buf = NULL;
  err = 0;
out:
  free(buf);
  close(fd);
  return err;
}

/* One segment: every valid record in order; after a damaged stretch the
 * scan resumes at the next offset where a whole valid record starts. */
static int scan_segment(const char *path, vtg_resultlog_rec_cb cb, void *ctx,
                        vtg_resultlog_scan_stats_t *st) {
  uint8_t *buf = NULL;
  size_t n = 0;
  char id[256], region[256];
  int err = read_file(path, &buf, &n);
  if (err) {
    VTG_WARN("result log: cannot read %s: %s; skipped", path, vtg_strerror(err));
    return err == VTG_ENOMEM ? err : 0;
  }
  st->segments++;
  st->bytes += n;
  if (n < SEG_MAGIC_LEN || memcmp(buf, SEG_MAGIC, SEG_MAGIC_LEN) != 0) {
    if (n > 0) {
      VTG_WARN("result log: %s is not a result log segment; skipped", path);
      st->corrupt++;
    }
    free(buf);
    return 0;
  }
  size_t pos = SEG_MAGIC_LEN;
  while (pos < n) {
    vtg_resultlog_rec_t r;
    size_t k = parse_rec(buf + pos, n - pos, &r, id, region);
    if (k > 0) {
      st->records++;
      if ((err = cb(ctx, &r)) != 0) break;
      pos += k;
      continue;
    }
    size_t bad = pos;
    for (pos++; pos < n; pos++)
      if (buf[pos] == (REC_MAGIC & 0xff) && parse_rec(buf + pos, n - pos, &r, id, region) > 0)
        break;
    if (pos < n) {
      st->corrupt++;
      VTG_WARN("result log: %s: %zu damaged bytes at offset %zu skipped", path, pos - bad, bad);
    } else {
      st->truncated++;
      VTG_WARN("result log: %s: incomplete tail of %zu bytes at offset %zu skipped", path,
               n - bad, bad);
    }
  }
  free(buf);
  return err;
}

int vtg_resultlog_scan(const char *dir, vtg_resultlog_rec_cb cb, void *ctx,
                       vtg_resultlog_scan_stats_t *st) {
  seg_t *v;
  size_t n;
  memset(st, 0, sizeof *st);
  int err = seg_list(dir, &v, &n);
  if (err) return err;
  for (size_t i = 0; i < n && err == 0; i++) {
    char path[PATH_LEN];
    if (seg_path(dir, v[i].no, path, sizeof path) != 0) continue;
    err = scan_segment(path, cb, ctx, st);
  }
  free(v);
  return err;
}
