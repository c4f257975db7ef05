/* One curl multi handle driven by the libuv loop, the way curl's
 * docs/examples/multi-uv.c does it: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION, one uv_poll per socket) and when to time out
 * (CURLMOPT_TIMERFUNCTION, one uv_timer); we hand events back with
 * curl_multi_socket_action and collect finished transfers with
 * curl_multi_info_read.
 *
 * The fd-reuse hazard: curl calls the socket callback with CURL_POLL_REMOVE
 * just before it closes the fd. We stop and close the uv_poll right there
 * (uv_close stops the watcher synchronously and removes the fd from epoll),
 * so when the kernel hands the same number to the next socket, libuv no
 * longer knows the old one; only the memory waits for the close callback. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vtg/error.h"
#include "vtg/log.h"

typedef struct vtg_curl_sock_s {
  uv_poll_t poll;
  curl_socket_t fd;
  vtg_curl_uv_t *cu;
  int events;       /* what curl asked us to watch */
  int errors;       /* consecutive poll errors */
  int closing;
  struct vtg_curl_sock_s *prev, *next;
} vtg_curl_sock_t;

static void maybe_closed(vtg_curl_uv_t *cu) {
  if (cu->closing && cu->pending_closes == 0 && cu->close_cb) {
    vtg_curl_uv_close_cb cb = cu->close_cb;
    cu->close_cb = NULL;
    cb(cu);
  }
}

static void sock_closed(uv_handle_t *h) {
  vtg_curl_sock_t *s = container_of((uv_poll_t *)h, vtg_curl_sock_t, poll);
  vtg_curl_uv_t *cu = s->cu;
  free(s);
  cu->pending_closes--;
  maybe_closed(cu);
}

static void sock_destroy(vtg_curl_uv_t *cu, vtg_curl_sock_t *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    cu->socks = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = NULL;
  s->closing = 1;
  cu->pending_closes++;
  uv_close((uv_handle_t *)&s->poll, sock_closed);
}

/* Hands every finished transfer to done_cb. Runs after socket_action has
 * returned, so the callback may add or remove handles freely. */
static void check_multi_info(vtg_curl_uv_t *cu) {
  CURLMsg *msg;
  int left = 0;
  while (!cu->closing && (msg = curl_multi_info_read(cu->multi, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL *easy = msg->easy_handle;
    CURLcode result = msg->data.result;
    CURLMcode mc = curl_multi_remove_handle(cu->multi, easy);
    if (mc != CURLM_OK)
      VTG_ERROR("curl_multi_remove_handle: %s", curl_multi_strerror(mc));
    cu->done_cb(cu, easy, result);
  }
}

static void socket_action(vtg_curl_uv_t *cu, curl_socket_t fd, int flags) {
  int running = 0;
  CURLMcode mc = curl_multi_socket_action(cu->multi, fd, flags, &running);
  if (mc != CURLM_OK) VTG_ERROR("curl_multi_socket_action: %s", curl_multi_strerror(mc));
  check_multi_info(cu);
}

/* On POLLERR libuv stops the watcher and reports UV_EBADF without saying
 * which error. Passing CURL_CSELECT_ERR would make curl fail the transfer
 * with a generic "select/poll returned error" (CURLE_SEND_ERROR), hiding a
 * reset or a refused connect; so we let curl read or check the socket
 * itself, which yields the real errno, and re-arm the watcher. Only when
 * that keeps failing do we hand curl the error flag. */
static void poll_cb(uv_poll_t *p, int status, int events) {
  vtg_curl_sock_t *s = container_of(p, vtg_curl_sock_t, poll);
  vtg_curl_uv_t *cu = s->cu;
  int flags = 0;
  if (status < 0) {
    s->errors++;
    flags = s->errors > 3 ? CURL_CSELECT_ERR : (CURL_CSELECT_IN | CURL_CSELECT_OUT);
  } else {
    s->errors = 0;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  socket_action(cu, s->fd, flags);
  /* s stays allocated until its close callback, so it can be looked at. */
  if (status < 0 && !s->closing && !cu->closing && s->events != 0) {
    int rc = uv_poll_start(&s->poll, s->events, poll_cb);
    if (rc != 0) VTG_ERROR("uv_poll_start(%d): %s", (int)s->fd, uv_strerror(rc));
  }
}

static void timer_cb(uv_timer_t *t) {
  vtg_curl_uv_t *cu = container_of(t, vtg_curl_uv_t, timer);
  if (cu->closing) return;
  socket_action(cu, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION. Must not call back into curl_multi_socket_action.
 * A failure to watch a socket is logged and otherwise left to the
 * transfer's own timeout: returning -1 would make curl declare the whole
 * multi handle dead. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  vtg_curl_uv_t *cu = userp;
  vtg_curl_sock_t *s = socketp;
  int events = 0, rc;

  if (what == CURL_POLL_REMOVE) {
    if (s != NULL) {
      CURLMcode mc = curl_multi_assign(cu->multi, fd, NULL);
      if (mc != CURLM_OK) VTG_DEBUG("curl_multi_assign: %s", curl_multi_strerror(mc));
      sock_destroy(cu, s);
    }
    return 0;
  }
  if (cu->closing) return 0;
  if (s == NULL) {
    s = calloc(1, sizeof *s);
    if (s == NULL) {
      VTG_ERROR("out of memory watching a curl socket");
      return 0;
    }
    rc = uv_poll_init_socket(cu->loop, &s->poll, fd);
    if (rc != 0) {
      VTG_ERROR("uv_poll_init_socket(%d): %s", (int)fd, uv_strerror(rc));
      free(s);
      return 0;
    }
    s->fd = fd;
    s->cu = cu;
    s->next = cu->socks;
    if (s->next) s->next->prev = s;
    cu->socks = s;
    CURLMcode mc = curl_multi_assign(cu->multi, fd, s);
    if (mc != CURLM_OK) {
      VTG_ERROR("curl_multi_assign: %s", curl_multi_strerror(mc));
      sock_destroy(cu, s);
      return 0;
    }
  }
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
  s->events = events;
  rc = uv_poll_start(&s->poll, events, poll_cb);
  if (rc != 0) VTG_ERROR("uv_poll_start(%d): %s", (int)fd, uv_strerror(rc));
  return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 = delete the timer, otherwise (re)arm it. A 0
 * timeout still goes through the loop: curl forbids calling socket_action
 * from inside its callbacks. */
static int timer_func(CURLM *multi, long timeout_ms, void *userp) {
  vtg_curl_uv_t *cu = userp;
  if (cu->closing) return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(&cu->timer);
    return 0;
  }
  int rc = uv_timer_start(&cu->timer, timer_cb, (uint64_t)timeout_ms, 0);
  if (rc != 0) {
    VTG_ERROR("uv_timer_start: %s", uv_strerror(rc));
    return -1;
  }
  return 0;
}

int vtg_curl_uv_init(uv_loop_t *loop, vtg_curl_uv_t *cu, vtg_curl_uv_done_cb done_cb) {
  void *data = cu->data;
  int rc;
  CURLMcode mc = CURLM_OK;

  memset(cu, 0, sizeof *cu);
  cu->data = data;
  cu->loop = loop;
  cu->done_cb = done_cb;
  cu->multi = curl_multi_init();
  if (cu->multi == NULL) {
    VTG_ERROR("curl_multi_init failed");
    return VTG_ECURL;
  }
  if ((mc = curl_multi_setopt(cu->multi, CURLMOPT_SOCKETFUNCTION, socket_cb)) != CURLM_OK ||
      (mc = curl_multi_setopt(cu->multi, CURLMOPT_SOCKETDATA, cu)) != CURLM_OK ||
      (mc = curl_multi_setopt(cu->multi, CURLMOPT_TIMERFUNCTION, timer_func)) != CURLM_OK ||
      (mc = curl_multi_setopt(cu->multi, CURLMOPT_TIMERDATA, cu)) != CURLM_OK) {
    VTG_ERROR("curl_multi_setopt: %s", curl_multi_strerror(mc));
    curl_multi_cleanup(cu->multi);
    cu->multi = NULL;
    return VTG_ECURL;
  }
  rc = uv_timer_init(loop, &cu->timer);
  if (rc != 0) {
    curl_multi_cleanup(cu->multi);
    cu->multi = NULL;
  }
  return rc;
}

int vtg_curl_uv_add(vtg_curl_uv_t *cu, CURL *easy) {
  if (cu->closing) return VTG_ECURL;
  CURLMcode mc = curl_multi_add_handle(cu->multi, easy);
  if (mc != CURLM_OK) {
    VTG_ERROR("curl_multi_add_handle: %s", curl_multi_strerror(mc));
    return VTG_ECURL;
  }
  return 0;
}

void vtg_curl_uv_remove(vtg_curl_uv_t *cu, CURL *easy) {
  CURLMcode mc = curl_multi_remove_handle(cu->multi, easy);
  if (mc != CURLM_OK) VTG_ERROR("curl_multi_remove_handle: %s", curl_multi_strerror(mc));
}

static void timer_closed(uv_handle_t *h) {
  vtg_curl_uv_t *cu = container_of((uv_timer_t *)h, vtg_curl_uv_t, timer);
  cu->pending_closes--;
  maybe_closed(cu);
}

void vtg_curl_uv_close(vtg_curl_uv_t *cu, vtg_curl_uv_close_cb close_cb) {
  cu->close_cb = close_cb;
  if (cu->multi != NULL) {
    /* Still open: cleanup may call socket_cb with CURL_POLL_REMOVE for
     * sockets it closes, which closes their polls the usual way. */
    CURLMcode mc = curl_multi_cleanup(cu->multi);
    if (mc != CURLM_OK) VTG_ERROR("curl_multi_cleanup: %s", curl_multi_strerror(mc));
    cu->multi = NULL;
  }
  cu->closing = 1;
  /* Whatever curl did not tell us about any more. */
  while (cu->socks != NULL) sock_destroy(cu, cu->socks);
  cu->pending_closes++;
  uv_close((uv_handle_t *)&cu->timer, timer_closed);
}
