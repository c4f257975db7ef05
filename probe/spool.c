/* The agent's on-disk spool: append-only segments of CRC-checked records,
 * a two-slot meta file with the epoch and the acknowledged seq, recovery
 * after a crash, trimming on Ack and when full, and a bounded read-ahead
 * for the replay. Format and policy: spool.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>
#include "spool.h"
#include "vtg/bytes.h"
#include "vtg/crc.h"
#include "vtg/error.h"
#include "vtg/log.h"

#define REC_MAGIC 0x31525356u  /* "VSR1" little endian */
#define META_MAGIC 0x544d5356u /* "VSMT" */
#define META_VERSION 1u
#define HDR 32u
#define META_SLOT 64u
#define META_NAME "spool.meta"
#define SEG_FMT "spool-%020" PRIu64 ".seg"
#define READ_BUF (512u << 10)     /* read-ahead per vtg_spool_read */
#define RECENT 16384u             /* exact start_us kept for the newest results */
#define SEG_FILE_CAP (256u << 20) /* larger "segments" are not ours */
#define PATH_MAX_LEN 4096

typedef struct seg_s {
  uint64_t name_seq;  /* from the file name: the seq of its first append */
  uint64_t first, last; /* seqs of valid records; 0/0 when none */
  uint64_t count;
  uint64_t bytes;     /* file size */
  int64_t min_start;  /* over its records; INT64_MAX when none */
} seg_t;

struct vtg_spool_s {
  char *dir;
  vtg_spool_fsync_t policy;
  uint64_t max_bytes;
  uint64_t seg_bytes;
  int meta_fd;        /* also holds the flock */
  uint64_t meta_gen;
  uint64_t epoch;
  uint64_t acked;
  uint64_t next_seq;
  uint64_t durable;   /* highest seq synced (policy-wise) */
  int meta_dirty;

  seg_t *segs;        /* by name_seq ascending; the last one is written */
  size_t nseg, seg_alloc;
  int fd;             /* the active (last) segment, O_APPEND */
  uint64_t total_bytes;

  /* exact start_us for seqs in [recent_lo, next_seq) */
  int64_t *recent;
  uint64_t recent_lo;

  /* read cursor: where the last read stopped */
  uint64_t cur_seg;   /* name_seq of its segment, 0 = none */
  uint64_t cur_off;
  uint64_t cur_next;  /* the seq a read from here should continue with */
  uint8_t *rbuf;

  vtg_spool_stats_t st;
};

/* ------------------------------------------------------------- encoding */


static uint32_t rec_crc(const uint8_t *hdr, const uint8_t *payload, size_t len) {
  uint32_t c = vtg_crc32c(0, hdr + 8, HDR - 8);
  return len > 0 ? vtg_crc32c(c, payload, len) : c;
}

enum { PARSE_OK, PARSE_SHORT, PARSE_BAD };

/* Looks at the record starting at buf[0] (avail bytes there). PARSE_SHORT:
 * it does not fit in avail (a torn tail, or more must be read); PARSE_BAD:
 * not a record. */
static int parse_rec(const uint8_t *buf, size_t avail, vtg_spool_rec_t *r) {
  if (avail < HDR) return PARSE_SHORT;
  if (vtg_get_le32(buf) != REC_MAGIC) return PARSE_BAD;
  uint32_t len = vtg_get_le32(buf + 8);
  if (len > VTG_SPOOL_RECORD_MAX || vtg_get_le32(buf + 12) != 0) return PARSE_BAD;
  if (avail < HDR + (size_t)len) return PARSE_SHORT;
  if (rec_crc(buf, buf + HDR, len) != vtg_get_le32(buf + 4)) return PARSE_BAD;
  r->seq = vtg_get_le64(buf + 16);
  r->start_us = (int64_t)vtg_get_le64(buf + 24);
  r->data = buf + HDR;
  r->len = len;
  if (r->seq == 0) return PARSE_BAD;
  return PARSE_OK;
}

/* The offset of the next valid record after a bad one at off, or avail
 * when none starts in buf (a record cut by the end of buf counts as one:
 * the caller re-reads from there). */
static size_t resync(const uint8_t *buf, size_t avail, size_t off) {
  vtg_spool_rec_t r;
  for (size_t p = off + 1; p + 4 <= avail; p++) {
    if (vtg_get_le32(buf + p) != REC_MAGIC) continue;
    if (parse_rec(buf + p, avail - p, &r) != PARSE_BAD) return p;
  }
  return avail;
}

/* ----------------------------------------------------------------- files */

static int path_of(const vtg_spool_t *s, const char *name, char *out, size_t size) {
  int n = snprintf(out, size, "%s/%s", s->dir, name);
  return n < 0 || (size_t)n >= size ? VTG_EINVAL : 0;
}

static int seg_path(const vtg_spool_t *s, uint64_t name_seq, char *out, size_t size) {
  char name[64];
  snprintf(name, sizeof name, SEG_FMT, name_seq);
  return path_of(s, name, out, size);
}

static int sync_dir(const vtg_spool_t *s) {
  int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return VTG_EIO;
  int rc = fsync(dfd) == 0 ? 0 : VTG_EIO;
  close(dfd);
  return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* mkdir -p with 0700 for what it creates. */
static int make_dirs(const char *dir) {
  char tmp[PATH_MAX_LEN];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof tmp) return -1;
  memcpy(tmp, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (tmp[i] != '/' && tmp[i] != '\0') continue;
    char c = tmp[i];
    tmp[i] = '\0';
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
    tmp[i] = c;
  }
  struct stat sb;
  return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) ? 0 : -1;
}

/* ------------------------------------------------------------------ meta */

static int meta_write(vtg_spool_t *s) {
  uint8_t slot[META_SLOT];
  memset(slot, 0, sizeof slot);
  s->meta_gen++;
  vtg_put_le32(slot, META_MAGIC);
  vtg_put_le32(slot + 4, META_VERSION);
  vtg_put_le64(slot + 8, s->meta_gen);
  vtg_put_le64(slot + 16, s->epoch);
  vtg_put_le64(slot + 24, s->acked);
  vtg_put_le32(slot + 60, vtg_crc32c(0, slot, 60));
  off_t off = (off_t)((s->meta_gen % 2) * META_SLOT);
  if (pwrite(s->meta_fd, slot, sizeof slot, off) != (ssize_t)sizeof slot) {
    VTG_ERROR("spool %s: writing %s failed: %s", s->dir, META_NAME, strerror(errno));
    return VTG_EIO;
  }
  if (s->policy == VTG_SPOOL_FSYNC_ALWAYS) {
    if (fdatasync(s->meta_fd) != 0) return VTG_EIO;
  } else {
    s->meta_dirty = s->policy == VTG_SPOOL_FSYNC_BATCH;
  }
  return 0;
}

/* Reads the meta file. Returns 1 when a valid slot was found, 0 when the
 * file is empty (new), -1 when it holds no valid slot (corrupt). */
static int meta_read(vtg_spool_t *s) {
  uint8_t buf[2 * META_SLOT];
  ssize_t n = pread(s->meta_fd, buf, sizeof buf, 0);
  if (n <= 0) return 0;
  int found = 0;
  for (size_t i = 0; i + META_SLOT <= (size_t)n; i += META_SLOT) {
    const uint8_t *p = buf + i;
    if (vtg_get_le32(p) != META_MAGIC || vtg_get_le32(p + 4) != META_VERSION) continue;
    if (vtg_crc32c(0, p, 60) != vtg_get_le32(p + 60)) continue;
    uint64_t gen = vtg_get_le64(p + 8);
    if (found && gen <= s->meta_gen) continue;
    found = 1;
    s->meta_gen = gen;
    s->epoch = vtg_get_le64(p + 16);
    s->acked = vtg_get_le64(p + 24);
  }
  return found ? 1 : -1;
}

/* -------------------------------------------------------------- segments */

static seg_t *seg_find(vtg_spool_t *s, uint64_t name_seq) {
  for (size_t i = 0; i < s->nseg; i++)
    if (s->segs[i].name_seq == name_seq) return &s->segs[i];
  return NULL;
}

static int seg_push(vtg_spool_t *s, uint64_t name_seq) {
  if (s->nseg == s->seg_alloc) {
    size_t na = s->seg_alloc ? s->seg_alloc * 2 : 16;
    seg_t *ns = realloc(s->segs, na * sizeof *ns);
    if (ns == NULL) return VTG_ENOMEM;
    s->segs = ns;
    s->seg_alloc = na;
  }
  seg_t *g = &s->segs[s->nseg++];
  memset(g, 0, sizeof *g);
  g->name_seq = name_seq;
  g->min_start = INT64_MAX;
  return 0;
}

/* Deletes the oldest segment; the caller never removes the active one. */
static void seg_remove_oldest(vtg_spool_t *s) {
  char path[PATH_MAX_LEN];
  if (seg_path(s, s->segs[0].name_seq, path, sizeof path) == 0 && unlink(path) != 0 &&
      errno != ENOENT)
    VTG_WARN("spool: removing %s failed: %s", path, strerror(errno));
  s->total_bytes -= s->segs[0].bytes;
  memmove(&s->segs[0], &s->segs[1], (s->nseg - 1) * sizeof *s->segs);
  s->nseg--;
}

/* Opens a fresh active segment named after the next seq. */
static int seg_start(vtg_spool_t *s) {
  char path[PATH_MAX_LEN];
  int rc;
  if ((rc = seg_path(s, s->next_seq, path, sizeof path)) != 0) return rc;
  if (s->nseg > 0 && s->segs[s->nseg - 1].name_seq == s->next_seq) {
    /* The last segment got no good record (empty, or only torn bytes):
     * start it over under the same name. */
    s->total_bytes -= s->segs[s->nseg - 1].bytes;
    s->nseg--;
  }
  if ((rc = seg_push(s, s->next_seq)) != 0) return rc;
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    VTG_ERROR("spool: creating %s failed: %s", path, strerror(errno));
    s->nseg--;
    return VTG_EIO;
  }
  /* A reused name (the last segment was empty and removed) may hold bytes. */
  struct stat sb;
  if (fstat(fd, &sb) == 0 && sb.st_size > 0 && ftruncate(fd, 0) != 0) {
    close(fd);
    s->nseg--;
    return VTG_EIO;
  }
  s->fd = fd;
  if (s->policy != VTG_SPOOL_FSYNC_NEVER) (void)sync_dir(s);
  return 0;
}

/* Closes the active segment (synced first unless "never") and starts the
 * next one. */
static int seg_roll(vtg_spool_t *s) {
  if (s->fd >= 0) {
    if (s->policy != VTG_SPOOL_FSYNC_NEVER && fdatasync(s->fd) != 0) return VTG_EIO;
    close(s->fd);
    s->fd = -1;
    s->durable = s->next_seq - 1;
  }
  return seg_start(s);
}

/* Scans one segment file: fills g, counts and logs corrupt records, and
 * truncates a torn tail when it is the newest segment (appends continue
 * after the last good record). */
static int seg_recover(vtg_spool_t *s, seg_t *g, int newest) {
  char path[PATH_MAX_LEN];
  int rc = 0;
  uint8_t *buf = NULL;
  int fd = -1;
  if ((rc = seg_path(s, g->name_seq, path, sizeof path)) != 0) return rc;
  fd = open(path, O_RDWR | O_CLOEXEC);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0) {
    VTG_ERROR("spool: opening %s failed: %s", path, strerror(errno));
    rc = VTG_EIO;
    goto out;
  }
  if ((uint64_t)sb.st_size > SEG_FILE_CAP) {
    VTG_ERROR("spool: %s is %lld bytes, more than a segment can be; ignoring it", path,
              (long long)sb.st_size);
    g->bytes = 0;
    goto out;
  }
  size_t size = (size_t)sb.st_size;
  buf = malloc(size ? size : 1);
  if (buf == NULL) {
    rc = VTG_ENOMEM;
    goto out;
  }
  size_t got = 0;
  while (got < size) {
    ssize_t r = pread(fd, buf + got, size - got, (off_t)got);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      rc = VTG_EIO;
      goto out;
    }
    got += (size_t)r;
  }
  size_t off = 0, good_end = 0;
  uint64_t prev = 0;
  while (off < size) {
    vtg_spool_rec_t r;
    int pr = parse_rec(buf + off, size - off, &r);
    if (pr == PARSE_OK && r.seq > prev) {
      if (g->count == 0) g->first = r.seq;
      g->last = r.seq;
      g->count++;
      if (r.start_us < g->min_start) g->min_start = r.start_us;
      prev = r.seq;
      off += HDR + r.len;
      good_end = off;
      continue;
    }
    s->st.corrupt_records++;
    if (pr == PARSE_SHORT) {
      VTG_WARN("spool: %s: truncated record at offset %zu (%zu bytes left); skipped", path, off,
               size - off);
      break;
    }
    size_t next = pr == PARSE_OK ? off + HDR + r.len : resync(buf, size, off);
    VTG_WARN("spool: %s: corrupt record at offset %zu (%s); skipped %zu bytes", path, off,
             pr == PARSE_OK ? "sequence out of order" : "bad magic, length or CRC", next - off);
    off = next;
  }
  g->bytes = size;
  if (newest && good_end < size) {
    /* Everything after the last good record of the newest segment is a
     * torn or garbled tail (counted above): cut it. A corrupt record in the
     * middle of a segment stays; readers skip it. */
    if (ftruncate(fd, (off_t)good_end) == 0) g->bytes = good_end;
  }
out:
  if (fd >= 0) close(fd);
  free(buf);
  return rc;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Lists the segment files (by seq) into s->segs, unscanned. */
static int list_segments(vtg_spool_t *s) {
  DIR *d = opendir(s->dir);
  uint64_t *seqs = NULL;
  size_t n = 0, alloc = 0;
  int rc = 0;
  if (d == NULL) return VTG_EIO;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    uint64_t v;
    char tail[8];
    if (strlen(e->d_name) != 30 || sscanf(e->d_name, "spool-%20" SCNu64 "%4s", &v, tail) != 2 ||
        strcmp(tail, ".seg") != 0 || v == 0)
      continue;
    if (n == alloc) {
      size_t na = alloc ? alloc * 2 : 16;
      uint64_t *ns = realloc(seqs, na * sizeof *ns);
      if (ns == NULL) {
        rc = VTG_ENOMEM;
        goto out;
      }
      seqs = ns;
      alloc = na;
    }
    seqs[n++] = v;
  }
  if (n > 0) qsort(seqs, n, sizeof *seqs, cmp_u64);
  for (size_t i = 0; i < n && rc == 0; i++) rc = seg_push(s, seqs[i]);
out:
  closedir(d);
  free(seqs);
  return rc;
}

/* Deletes every segment that holds no unacknowledged result, except the
 * active one. */
static void trim_acked(vtg_spool_t *s) {
  while (s->nseg > 1 && (s->segs[0].count == 0 || s->segs[0].last <= s->acked) &&
         s->segs[1].name_seq <= s->acked + 1)
    seg_remove_oldest(s);
}

/* Deletes the oldest segments while the spool is over max_bytes; the range
 * of unacknowledged results lost is counted and logged. */
static void trim_full(vtg_spool_t *s) {
  while (s->nseg > 1 && s->total_bytes > s->max_bytes) {
    seg_t g = s->segs[0];
    uint64_t first = g.first > s->acked ? g.first : s->acked + 1;
    seg_remove_oldest(s);
    if (g.count == 0 || g.last < first) continue;
    /* Everything up to the next segment's first seq is gone from here. */
    uint64_t last = s->segs[0].name_seq - 1;
    if (last < g.last) last = g.last;
    s->st.dropped_results += last - first + 1;
    s->st.dropped_first = first;
    s->st.dropped_last = last;
    VTG_WARN("spool full (%" PRIu64 " bytes > spool_max_bytes %" PRIu64
             "): dropped results %" PRIu64 "..%" PRIu64 " (%" PRIu64 " results; %" PRIu64
             " dropped so far)",
             s->total_bytes + g.bytes, s->max_bytes, first, last, last - first + 1,
             s->st.dropped_results);
  }
}

/* --------------------------------------------------------------- open/close */

int vtg_spool_fsync_parse(const char *str, vtg_spool_fsync_t *out) {
  if (strcmp(str, "batch") == 0)
    *out = VTG_SPOOL_FSYNC_BATCH;
  else if (strcmp(str, "always") == 0)
    *out = VTG_SPOOL_FSYNC_ALWAYS;
  else if (strcmp(str, "never") == 0)
    *out = VTG_SPOOL_FSYNC_NEVER;
  else
    return VTG_EINVAL;
  return 0;
}

const char *vtg_spool_fsync_name(vtg_spool_fsync_t f) {
  return f == VTG_SPOOL_FSYNC_ALWAYS ? "always" : f == VTG_SPOOL_FSYNC_NEVER ? "never" : "batch";
}

static void spool_free(vtg_spool_t *s) {
  if (s->fd >= 0) close(s->fd);
  if (s->meta_fd >= 0) close(s->meta_fd); /* releases the flock */
  free(s->segs);
  free(s->recent);
  free(s->rbuf);
  free(s->dir);
  free(s);
}

int vtg_spool_open(vtg_spool_t **out, const vtg_spool_opts_t *o, char *err, size_t errlen) {
  char path[PATH_MAX_LEN];
  int rc = 0;
  vtg_spool_t *s = NULL;
  if (errlen > 0) err[0] = '\0';
  if (o->dir == NULL || o->dir[0] == '\0' || strlen(o->dir) > PATH_MAX_LEN - 64) {
    snprintf(err, errlen, "spool_dir is empty or too long");
    return VTG_EINVAL;
  }
  s = calloc(1, sizeof *s);
  if (s == NULL) return VTG_ENOMEM;
  s->fd = s->meta_fd = -1;
  s->dir = strdup(o->dir);
  s->recent = malloc(RECENT * sizeof *s->recent);
  s->rbuf = malloc(READ_BUF);
  if (s->dir == NULL || s->recent == NULL || s->rbuf == NULL) {
    rc = VTG_ENOMEM;
    goto out;
  }
  s->policy = o->fsync;
  s->max_bytes = o->max_bytes ? o->max_bytes : VTG_SPOOL_MAX_BYTES_DEFAULT;
  s->seg_bytes = o->segment_bytes ? o->segment_bytes : s->max_bytes / 8;
  if (s->seg_bytes > VTG_SPOOL_SEGMENT_MAX) s->seg_bytes = VTG_SPOOL_SEGMENT_MAX;
  if (s->seg_bytes < 4096) s->seg_bytes = 4096;

  if (make_dirs(s->dir) != 0) {
    snprintf(err, errlen, "spool_dir %s: cannot create it: %s", s->dir, strerror(errno));
    rc = VTG_EIO;
    goto out;
  }
  if ((rc = path_of(s, META_NAME, path, sizeof path)) != 0) goto out;
  s->meta_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->meta_fd < 0) {
    snprintf(err, errlen, "spool_dir %s: cannot open %s: %s", s->dir, META_NAME, strerror(errno));
    rc = VTG_EIO;
    goto out;
  }
  if (flock(s->meta_fd, LOCK_EX | LOCK_NB) != 0) {
    snprintf(err, errlen, "spool_dir %s is in use by another vantage-probe (%s)", s->dir,
             strerror(errno));
    rc = VTG_EIO;
    goto out;
  }
  int m = meta_read(s);
  if ((rc = list_segments(s)) != 0) {
    snprintf(err, errlen, "spool_dir %s: cannot list it", s->dir);
    goto out;
  }
  if (m <= 0) {
    /* A new spool, or one whose meta is unreadable: its results belong to
     * an epoch we no longer know, so they cannot be replayed. */
    if (m < 0 || s->nseg > 0)
      VTG_ERROR("spool %s: %s unreadable; discarding %zu old segments and starting a new epoch",
                s->dir, META_NAME, s->nseg);
    while (s->nseg > 0) {
      if (seg_path(s, s->segs[s->nseg - 1].name_seq, path, sizeof path) == 0) (void)unlink(path);
      s->nseg--;
    }
    uint64_t e = 0;
    while (e == 0) {
      if ((rc = uv_random(NULL, NULL, &e, sizeof e, 0, NULL)) != 0) {
        snprintf(err, errlen, "uv_random: %s", uv_strerror(rc));
        goto out;
      }
    }
    s->epoch = e;
    s->acked = 0;
    s->meta_gen = 0;
    vtg_spool_fsync_t p = s->policy;
    s->policy = VTG_SPOOL_FSYNC_ALWAYS; /* the epoch must not be lost */
    rc = meta_write(s);
    if (rc == 0) rc = meta_write(s); /* both slots */
    s->policy = p;
    if (rc == 0 && p != VTG_SPOOL_FSYNC_NEVER) rc = sync_dir(s);
    if (rc != 0) {
      snprintf(err, errlen, "spool_dir %s: cannot write %s", s->dir, META_NAME);
      goto out;
    }
  }

  uint64_t high = s->acked;
  for (size_t i = 0; i < s->nseg; i++) {
    seg_t *g = &s->segs[i];
    if ((rc = seg_recover(s, g, i + 1 == s->nseg)) != 0) {
      snprintf(err, errlen, "spool_dir %s: cannot read segment %" PRIu64, s->dir, g->name_seq);
      goto out;
    }
    s->total_bytes += g->bytes;
    if (g->last > high) high = g->last;
    if (g->name_seq > high + 1) high = g->name_seq - 1;
  }
  s->next_seq = high + 1;
  s->durable = high;
  s->recent_lo = s->next_seq;
  /* Appends go to a fresh segment: the old ones stay as they were found. */
  if ((rc = seg_start(s)) != 0) {
    snprintf(err, errlen, "spool_dir %s: cannot create a segment", s->dir);
    goto out;
  }
  trim_acked(s);
  trim_full(s);
  uint64_t unacked = 0;
  for (size_t i = 0; i < s->nseg; i++) {
    const seg_t *g = &s->segs[i];
    if (g->count == 0 || g->last <= s->acked) continue;
    unacked += g->first > s->acked ? g->count : g->last - s->acked; /* close enough for a log */
  }
  VTG_INFO("spool %s: epoch %016" PRIx64 ", acked %" PRIu64 ", next seq %" PRIu64 ", %" PRIu64
           " unacknowledged results in %zu segments (%" PRIu64 " bytes), %" PRIu64
           " corrupt records skipped, fsync %s",
           s->dir, s->epoch, s->acked, s->next_seq, unacked, s->nseg, s->total_bytes,
           s->st.corrupt_records, vtg_spool_fsync_name(s->policy));
  *out = s;
  return 0;
out:
  if (rc == VTG_ENOMEM && errlen > 0 && err[0] == '\0') snprintf(err, errlen, "out of memory");
  spool_free(s);
  return rc == VTG_ENOMEM || rc == VTG_EINVAL ? rc : VTG_EIO;
}

void vtg_spool_close(vtg_spool_t *s) {
  if (s == NULL) return;
  (void)vtg_spool_sync(s);
  spool_free(s);
}

void vtg_spool_abandon(vtg_spool_t *s) {
  if (s == NULL) return;
  spool_free(s);
}

/* --------------------------------------------------------------- accessors */

uint64_t vtg_spool_epoch(const vtg_spool_t *s) { return s->epoch; }
uint64_t vtg_spool_next_seq(const vtg_spool_t *s) { return s->next_seq; }
uint64_t vtg_spool_acked(const vtg_spool_t *s) { return s->acked; }
uint64_t vtg_spool_durable_seq(const vtg_spool_t *s) {
  return s->policy == VTG_SPOOL_FSYNC_NEVER ? s->next_seq - 1 : s->durable;
}
uint64_t vtg_spool_unsynced(const vtg_spool_t *s) {
  return s->next_seq - 1 - vtg_spool_durable_seq(s);
}

void vtg_spool_get_stats(const vtg_spool_t *s, vtg_spool_stats_t *st) {
  *st = s->st;
  st->bytes = s->total_bytes;
  st->segments = s->nseg;
}

/* ------------------------------------------------------------ write path */

int vtg_spool_append(vtg_spool_t *s, const uint8_t *data, size_t len, int64_t start_us,
                     uint64_t *seq) {
  uint8_t hdr[HDR];
  int rc;
  if (len > VTG_SPOOL_RECORD_MAX) return VTG_ELIMIT;
  if (s->fd < 0 || s->segs[s->nseg - 1].bytes >= s->seg_bytes) {
    if ((rc = seg_roll(s)) != 0) return rc;
  }
  vtg_put_le32(hdr, REC_MAGIC);
  vtg_put_le32(hdr + 8, (uint32_t)len);
  vtg_put_le32(hdr + 12, 0);
  vtg_put_le64(hdr + 16, s->next_seq);
  vtg_put_le64(hdr + 24, (uint64_t)start_us);
  vtg_put_le32(hdr + 4, rec_crc(hdr, data, len));
  /* One write for header and payload: a crash tears at most the tail. */
  uint8_t stackbuf[1024];
  uint8_t *b = HDR + len <= sizeof stackbuf ? stackbuf : malloc(HDR + len);
  if (b == NULL) return VTG_ENOMEM;
  memcpy(b, hdr, HDR);
  if (len > 0) memcpy(b + HDR, data, len);
  int wr = write_all(s->fd, b, HDR + len);
  if (b != stackbuf) free(b);
  seg_t *g = &s->segs[s->nseg - 1];
  if (wr != 0) {
    VTG_ERROR("spool %s: appending to segment %" PRIu64 " failed: %s", s->dir, g->name_seq,
              strerror(errno));
    /* Whatever part went out is a torn record; the next append starts a
     * new segment so it is not glued to it. */
    struct stat sb;
    if (fstat(s->fd, &sb) == 0) {
      s->total_bytes += (uint64_t)sb.st_size - g->bytes;
      g->bytes = (uint64_t)sb.st_size;
    }
    if (s->policy != VTG_SPOOL_FSYNC_NEVER) (void)fdatasync(s->fd);
    close(s->fd);
    s->fd = -1;
    return VTG_EIO;
  }
  if (s->policy == VTG_SPOOL_FSYNC_ALWAYS && fdatasync(s->fd) != 0) {
    VTG_ERROR("spool %s: fdatasync failed: %s", s->dir, strerror(errno));
  }
  *seq = s->next_seq;
  if (g->count == 0) g->first = s->next_seq;
  g->last = s->next_seq;
  g->count++;
  if (start_us < g->min_start) g->min_start = start_us;
  g->bytes += HDR + len;
  s->total_bytes += HDR + len;
  s->recent[s->next_seq % RECENT] = start_us;
  s->next_seq++;
  if (s->next_seq - s->recent_lo > RECENT) s->recent_lo = s->next_seq - RECENT;
  if (s->policy == VTG_SPOOL_FSYNC_ALWAYS) s->durable = *seq;
  trim_full(s);
  return 0;
}

int vtg_spool_sync(vtg_spool_t *s) {
  int rc = 0;
  if (s->policy == VTG_SPOOL_FSYNC_NEVER) return 0;
  if (s->durable + 1 < s->next_seq && s->fd >= 0 && fdatasync(s->fd) != 0) {
    VTG_ERROR("spool %s: fdatasync failed: %s", s->dir, strerror(errno));
    rc = VTG_EIO;
  }
  /* Even after a failed sync: holding results back for ever because the
   * disk misbehaves would lose more than sending them does. */
  s->durable = s->next_seq - 1;
  if (s->meta_dirty) {
    if (fdatasync(s->meta_fd) != 0) rc = VTG_EIO;
    s->meta_dirty = 0;
  }
  return rc;
}

int vtg_spool_sync_begin(vtg_spool_t *s, vtg_spool_sync_job_t *job) {
  memset(job, 0, sizeof *job);
  job->fds[0] = job->fds[1] = -1;
  if (s->policy == VTG_SPOOL_FSYNC_NEVER) return 0;
  int data = s->durable + 1 < s->next_seq && s->fd >= 0;
  if (!data && !s->meta_dirty) return 0;
  if (data && (job->fds[job->nfd++] = dup(s->fd)) < 0) goto fail;
  if (s->meta_dirty && (job->fds[job->nfd++] = dup(s->meta_fd)) < 0) goto fail;
  s->meta_dirty = 0;
  job->target = s->next_seq - 1;
  return 1;
fail:
  VTG_ERROR("spool %s: dup for a sync failed: %s", s->dir, strerror(errno));
  for (size_t i = 0; i < job->nfd; i++)
    if (job->fds[i] >= 0) close(job->fds[i]);
  job->nfd = 0;
  return VTG_EIO;
}

void vtg_spool_sync_run(vtg_spool_sync_job_t *job) {
  job->rc = 0;
  for (size_t i = 0; i < job->nfd; i++)
    if (fdatasync(job->fds[i]) != 0) job->rc = VTG_EIO;
}

void vtg_spool_sync_end(vtg_spool_t *s, vtg_spool_sync_job_t *job) {
  for (size_t i = 0; i < job->nfd; i++) close(job->fds[i]);
  job->nfd = 0;
  if (job->rc != 0) VTG_ERROR("spool %s: fdatasync failed", s->dir);
  /* As in vtg_spool_sync: a failing disk must not hold results back. */
  if (job->target > s->durable) s->durable = job->target;
}

int vtg_spool_ack(vtg_spool_t *s, uint64_t seq) {
  if (seq <= s->acked || seq >= s->next_seq) return 0;
  s->acked = seq;
  int rc = meta_write(s);
  trim_acked(s);
  return rc;
}

/* ------------------------------------------------------------- read path */

/* The index of the segment a read from seq starts in: the last one named
 * at or before seq, else the first. SIZE_MAX when there is none. */
static size_t seg_for(const vtg_spool_t *s, uint64_t seq) {
  if (s->nseg == 0) return SIZE_MAX;
  size_t i = 0;
  while (i + 1 < s->nseg && s->segs[i + 1].name_seq <= seq) i++;
  return i;
}

int vtg_spool_read(vtg_spool_t *s, uint64_t from, uint64_t upto, vtg_spool_rec_t *recs,
                   size_t max, size_t *n) {
  char path[PATH_MAX_LEN];
  size_t used = 0, got = 0;
  int rc = 0;
  *n = 0;
  if (from > upto || max == 0) return 0;
  size_t si;
  uint64_t off = 0;
  seg_t *cur = s->cur_seg ? seg_find(s, s->cur_seg) : NULL;
  if (cur != NULL && s->cur_next == from) {
    si = (size_t)(cur - s->segs);
    off = s->cur_off;
  } else {
    si = seg_for(s, from);
  }
  while (si < s->nseg && got < max) {
    seg_t *g = &s->segs[si];
    if (off >= g->bytes || (g->count > 0 && g->last < from)) {
      si++;
      off = 0;
      continue;
    }
    /* Until a record is handed out the buffer holds nothing worth
     * keeping, so a record always fits; after that, stop before one may
     * not. */
    if (got == 0) used = 0;
    if (used + HDR + VTG_SPOOL_RECORD_MAX > READ_BUF) break;
    if ((rc = seg_path(s, g->name_seq, path, sizeof path)) != 0) break;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      VTG_ERROR("spool: opening %s failed: %s", path, strerror(errno));
      rc = VTG_EIO;
      break;
    }
    size_t want = READ_BUF - used;
    if (want > g->bytes - off) want = (size_t)(g->bytes - off);
    ssize_t r = pread(fd, s->rbuf + used, want, (off_t)off);
    close(fd);
    if (r < 0) {
      rc = VTG_EIO;
      break;
    }
    if (r == 0) {
      /* Shorter than we knew (cut from outside): nothing more in it. */
      si++;
      off = 0;
      continue;
    }
    size_t avail = (size_t)r, p = 0;
    int stop = 0;
    while (p < avail && got < max) {
      vtg_spool_rec_t rec;
      int pr = parse_rec(s->rbuf + used + p, avail - p, &rec);
      if (pr == PARSE_SHORT) {
        /* Cut by the buffer: read again from here next time round. A torn
         * record at the very end of a segment is skipped. */
        if (off + p + HDR <= g->bytes && avail < g->bytes - off) break;
        p = avail;
        break;
      }
      if (pr == PARSE_BAD) {
        size_t np = resync(s->rbuf + used, avail, p);
        VTG_DEBUG("spool: %s: skipping %zu corrupt bytes at offset %" PRIu64, path, np - p,
                  off + p);
        p = np;
        continue;
      }
      if (rec.seq > upto) {
        stop = 1;
        break;
      }
      p += HDR + rec.len;
      if (rec.seq < from) continue;
      recs[got++] = rec;
      from = rec.seq + 1;
    }
    used += p;
    off += p;
    s->cur_seg = g->name_seq;
    s->cur_off = off;
    s->cur_next = from;
    if (stop || p == 0) break;
  }
  *n = got;
  return rc;
}

int64_t vtg_spool_min_start(const vtg_spool_t *s, uint64_t from) {
  int64_t m = INT64_MAX;
  if (from >= s->next_seq) return m;
  uint64_t lo = from > s->recent_lo ? from : s->recent_lo;
  for (uint64_t q = lo; q < s->next_seq; q++)
    if (s->recent[q % RECENT] < m) m = s->recent[q % RECENT];
  if (from < s->recent_lo) {
    for (size_t i = 0; i < s->nseg; i++) {
      const seg_t *g = &s->segs[i];
      if (g->count == 0 || g->last < from || g->first >= s->recent_lo) continue;
      if (g->min_start < m) m = g->min_start;
    }
  }
  return m;
}
