/*
 * colloquy_packet: the few per-packet operations Node makes expensive, done once in C.
 *
 *  - AES-128-GCM seal/open (RFC 7714) with one OpenSSL context per session key, re-used for every
 *    packet (Node builds a GCM cipher object per packet: 3.5-8 us per 1200 bytes here).
 *  - HMAC-SHA1 (RFC 3711 tags) from the keyed inner and outer SHA-1 states, copied per packet
 *    (Node builds an Hmac object per packet: 2.3-3.8 us).
 *  - A synchronous sendto() on a dgram socket's descriptor, to a socket address built once
 *    (Node's dgram.send looks the address up, allocates a request and defers to nextTick), and
 *    sendmmsg() of a batch of them, one call per socket (udp-send-batch.ts).
 *  - A batched receiver: recvmmsg() into a ring, one callback per batch (udp-receiver.ts).
 *
 * OpenSSL is Node's own: its symbols are exported by the node binary and its headers ship with
 * Node's (node-gyp puts include/node first). Every function is re-entrant and keeps no global state
 * but a thread-local scratch buffer, so worker threads may load the module too.
 */
#define _GNU_SOURCE 1
#define NAPI_VERSION 8
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <node_api.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/crypto.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define GCM_TAG 16
#define SCRATCH 65536

static __thread unsigned char scratch[SCRATCH];

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) return throw_error(env, "native call failed: " #call);                  \
  } while (0)

/* The callback's first n arguments (missing ones read as undefined: their checks refuse them). */
#define ARGS(n)                                                                                    \
  size_t argc = (n);                                                                               \
  napi_value argv[(n)];                                                                            \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL))

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, "ERR_COLLOQUY_NATIVE", message);
  return NULL;
}

static napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

static napi_value boolean(napi_env env, int b) {
  napi_value v;
  napi_get_boolean(env, b != 0, &v);
  return v;
}

static napi_value int32(napi_env env, int32_t n) {
  napi_value v;
  napi_create_int32(env, n, &v);
  return v;
}

/* Bytes of a TypedArray / Buffer argument (offset already applied) or NULL. */
static int bytes_of(napi_env env, napi_value value, unsigned char **data, size_t *length) {
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  void *ptr = NULL;
  if (napi_get_typedarray_info(env, value, &type, length, &ptr, &ab, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = (unsigned char *)ptr;
  if (*data == NULL && *length == 0) *data = scratch; /* empty views may have no backing store */
  return 1;
}

static int uint32_of(napi_env env, napi_value value, uint32_t *out) {
  return napi_get_value_uint32(env, value, out) == napi_ok;
}

static int int32_of(napi_env env, napi_value value, int32_t *out) {
  return napi_get_value_int32(env, value, out) == napi_ok;
}

static void *external_of(napi_env env, napi_value value) {
  void *p = NULL;
  if (napi_get_value_external(env, value, &p) != napi_ok) return NULL;
  return p;
}

/* data as a JavaScript external freed by fin when collected; on failure fin frees it now. */
static napi_value wrap_external(napi_env env, void *data, napi_finalize fin, const char *error) {
  napi_value ext;
  if (napi_create_external(env, data, fin, NULL, &ext) != napi_ok) {
    fin(env, data, NULL);
    return throw_error(env, error);
  }
  return ext;
}

/* ---------------------------------------------------------------------------------------------- */
/* AES-128-GCM                                                                                     */

typedef struct {
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
} gcm_t;

static void gcm_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  gcm_t *g = (gcm_t *)data;
  EVP_CIPHER_CTX_free(g->enc);
  EVP_CIPHER_CTX_free(g->dec);
  free(g);
}

/* gcmNew(key: Uint8Array(16)) -> external */
static napi_value gcm_new(napi_env env, napi_callback_info info) {
  ARGS(1);
  unsigned char *key;
  size_t key_len;
  if (argc < 1 || !bytes_of(env, argv[0], &key, &key_len) || key_len != 16) return throw_error(env, "gcmNew: a 16-byte key");
  gcm_t *g = calloc(1, sizeof(gcm_t));
  if (g == NULL) return throw_error(env, "gcmNew: out of memory");
  g->enc = EVP_CIPHER_CTX_new();
  g->dec = EVP_CIPHER_CTX_new();
  if (g->enc == NULL || g->dec == NULL || EVP_EncryptInit_ex(g->enc, EVP_aes_128_gcm(), NULL, key, NULL) != 1 ||
      EVP_DecryptInit_ex(g->dec, EVP_aes_128_gcm(), NULL, key, NULL) != 1) {
    gcm_free(env, g, NULL);
    return throw_error(env, "gcmNew: OpenSSL refused the key");
  }
  return wrap_external(env, g, gcm_free, "gcmNew: cannot wrap the context");
}

/*
 * gcmSeal(ctx, iv: Uint8Array(12), aad: Uint8Array, aad2: Uint8Array | null, plaintext: Uint8Array,
 *         out: Uint8Array, outOffset: number) -> void
 * Writes the ciphertext then the 16-byte tag at out[outOffset]. plaintext may be out's own bytes.
 */
static napi_value gcm_seal(napi_env env, napi_callback_info info) {
  ARGS(7);
  gcm_t *g = argc == 7 ? (gcm_t *)external_of(env, argv[0]) : NULL;
  unsigned char *iv, *aad, *aad2 = NULL, *pt, *out;
  size_t iv_len, aad_len, aad2_len = 0, pt_len, out_len;
  uint32_t off;
  napi_valuetype t2;
  if (g == NULL || !bytes_of(env, argv[1], &iv, &iv_len) || iv_len != 12 || !bytes_of(env, argv[2], &aad, &aad_len) ||
      napi_typeof(env, argv[3], &t2) != napi_ok || (t2 != napi_null && !bytes_of(env, argv[3], &aad2, &aad2_len)) ||
      !bytes_of(env, argv[4], &pt, &pt_len) || !bytes_of(env, argv[5], &out, &out_len) || !uint32_of(env, argv[6], &off))
    return throw_error(env, "gcmSeal: bad arguments");
  if ((size_t)off + pt_len + GCM_TAG > out_len) return throw_error(env, "gcmSeal: out too small");
  int n;
  EVP_CIPHER_CTX *c = g->enc;
  if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1 ||
      (aad2 != NULL && aad2_len > 0 && EVP_EncryptUpdate(c, NULL, &n, aad2, (int)aad2_len) != 1) ||
      EVP_EncryptUpdate(c, out + off, &n, pt, (int)pt_len) != 1 || EVP_EncryptFinal_ex(c, out + off + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG, out + off + pt_len) != 1)
    return throw_error(env, "gcmSeal: OpenSSL failed");
  return undefined(env);
}

/*
 * Decrypts ct into out only when the tag verifies (through scratch: out may overlap ct or tag).
 * 1 when it did, 0 when authentication failed or ct is larger than scratch.
 */
static int gcm_decrypt(gcm_t *g, const unsigned char *iv, const unsigned char *aad, size_t aad_len, const unsigned char *ct,
                       size_t ct_len, const unsigned char *tag, unsigned char *out) {
  if (ct_len > SCRATCH) return 0;
  unsigned char tag_copy[GCM_TAG];
  memcpy(tag_copy, tag, GCM_TAG);
  int n, m;
  EVP_CIPHER_CTX *c = g->dec;
  if (EVP_DecryptInit_ex(c, NULL, NULL, NULL, iv) != 1 || EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1 ||
      EVP_DecryptUpdate(c, scratch, &n, ct, (int)ct_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tag_copy) != 1)
    return 0;
  if (EVP_DecryptFinal_ex(c, scratch + n, &m) != 1) return 0;
  memcpy(out, scratch, ct_len);
  return 1;
}

/*
 * gcmOpen(ctx, iv, aad, ciphertext, tag: Uint8Array(16), out, outOffset) -> boolean
 * Decrypts into out[outOffset] only when the tag verifies (nothing is written otherwise).
 */
static napi_value gcm_open(napi_env env, napi_callback_info info) {
  ARGS(7);
  gcm_t *g = argc == 7 ? (gcm_t *)external_of(env, argv[0]) : NULL;
  unsigned char *iv, *aad, *ct, *tag, *out;
  size_t iv_len, aad_len, ct_len, tag_len, out_len;
  uint32_t off;
  if (g == NULL || !bytes_of(env, argv[1], &iv, &iv_len) || iv_len != 12 || !bytes_of(env, argv[2], &aad, &aad_len) ||
      !bytes_of(env, argv[3], &ct, &ct_len) || !bytes_of(env, argv[4], &tag, &tag_len) || tag_len != GCM_TAG ||
      !bytes_of(env, argv[5], &out, &out_len) || !uint32_of(env, argv[6], &off))
    return throw_error(env, "gcmOpen: bad arguments");
  if ((size_t)off + ct_len > out_len) return throw_error(env, "gcmOpen: out too small");
  return boolean(env, gcm_decrypt(g, iv, aad, aad_len, ct, ct_len, tag, out + off));
}

/*
 * gcmOpenPacket(ctx, iv, packet: Uint8Array, aadEnd, ciphertextEnd, tagEnd) -> boolean
 * An SRTP packet in place: packet[0, aadEnd) authenticated, [aadEnd, ciphertextEnd) decrypted
 * where it is once the 16-byte tag at ciphertextEnd verifies (gcmOpen's checks, with no views).
 */
static napi_value gcm_open_packet(napi_env env, napi_callback_info info) {
  ARGS(6);
  gcm_t *g = argc == 6 ? (gcm_t *)external_of(env, argv[0]) : NULL;
  unsigned char *iv, *p;
  size_t iv_len, p_len;
  uint32_t aad_end, ct_end, tag_end;
  if (g == NULL || !bytes_of(env, argv[1], &iv, &iv_len) || iv_len != 12 || !bytes_of(env, argv[2], &p, &p_len) ||
      !uint32_of(env, argv[3], &aad_end) || !uint32_of(env, argv[4], &ct_end) || !uint32_of(env, argv[5], &tag_end) ||
      aad_end > ct_end || (size_t)ct_end + GCM_TAG != (size_t)tag_end || tag_end > p_len)
    return throw_error(env, "gcmOpenPacket: bad arguments");
  return boolean(env, gcm_decrypt(g, iv, p, aad_end, p + aad_end, ct_end - aad_end, p + ct_end, p + aad_end));
}

/* ---------------------------------------------------------------------------------------------- */
/* HMAC-SHA1                                                                                       */

typedef struct {
  SHA_CTX inner; /* SHA-1 state after (key XOR ipad) */
  SHA_CTX outer; /* SHA-1 state after (key XOR opad) */
} hmac_t;

static void hmac_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  OPENSSL_cleanse(data, sizeof(hmac_t));
  free(data);
}

/* hmacNew(key: Uint8Array) -> external */
static napi_value hmac_new(napi_env env, napi_callback_info info) {
  ARGS(1);
  unsigned char *key;
  size_t key_len;
  if (argc < 1 || !bytes_of(env, argv[0], &key, &key_len) || key_len == 0) return throw_error(env, "hmacNew: a non-empty key");
  unsigned char block[SHA_CBLOCK];
  memset(block, 0, sizeof block);
  if (key_len > SHA_CBLOCK) {
    SHA1(key, key_len, block);
  } else {
    memcpy(block, key, key_len);
  }
  hmac_t *h = calloc(1, sizeof(hmac_t));
  if (h == NULL) return throw_error(env, "hmacNew: out of memory");
  unsigned char pad[SHA_CBLOCK];
  for (int i = 0; i < SHA_CBLOCK; i++) pad[i] = block[i] ^ 0x36;
  SHA1_Init(&h->inner);
  SHA1_Update(&h->inner, pad, SHA_CBLOCK);
  for (int i = 0; i < SHA_CBLOCK; i++) pad[i] = block[i] ^ 0x5c;
  SHA1_Init(&h->outer);
  SHA1_Update(&h->outer, pad, SHA_CBLOCK);
  OPENSSL_cleanse(block, sizeof block);
  OPENSSL_cleanse(pad, sizeof pad);
  return wrap_external(env, h, hmac_free, "hmacNew: cannot wrap the context");
}

static void hmac_digest(const hmac_t *h, const unsigned char *data, size_t len, unsigned char mac[SHA_DIGEST_LENGTH]) {
  SHA_CTX c = h->inner;
  unsigned char inner[SHA_DIGEST_LENGTH];
  SHA1_Update(&c, data, len);
  SHA1_Final(inner, &c);
  c = h->outer;
  SHA1_Update(&c, inner, SHA_DIGEST_LENGTH);
  SHA1_Final(mac, &c);
}

/* hmacSign(ctx, data, start, end, out, outOffset, tagLength) -> void */
static napi_value hmac_sign(napi_env env, napi_callback_info info) {
  ARGS(7);
  hmac_t *h = argc == 7 ? (hmac_t *)external_of(env, argv[0]) : NULL;
  unsigned char *data, *out;
  size_t data_len, out_len;
  uint32_t start, end, off, tag_len;
  if (h == NULL || !bytes_of(env, argv[1], &data, &data_len) || !uint32_of(env, argv[2], &start) ||
      !uint32_of(env, argv[3], &end) || !bytes_of(env, argv[4], &out, &out_len) || !uint32_of(env, argv[5], &off) ||
      !uint32_of(env, argv[6], &tag_len))
    return throw_error(env, "hmacSign: bad arguments");
  if (start > end || end > data_len || tag_len > SHA_DIGEST_LENGTH || (size_t)off + tag_len > out_len)
    return throw_error(env, "hmacSign: range out of bounds");
  unsigned char mac[SHA_DIGEST_LENGTH];
  hmac_digest(h, data + start, end - start, mac);
  memcpy(out + off, mac, tag_len);
  return undefined(env);
}

/* hmacVerify(ctx, data, start, end, tag: Uint8Array) -> boolean (constant time in the tag) */
static napi_value hmac_verify(napi_env env, napi_callback_info info) {
  ARGS(5);
  hmac_t *h = argc == 5 ? (hmac_t *)external_of(env, argv[0]) : NULL;
  unsigned char *data, *tag;
  size_t data_len, tag_len;
  uint32_t start, end;
  if (h == NULL || !bytes_of(env, argv[1], &data, &data_len) || !uint32_of(env, argv[2], &start) ||
      !uint32_of(env, argv[3], &end) || !bytes_of(env, argv[4], &tag, &tag_len))
    return throw_error(env, "hmacVerify: bad arguments");
  if (start > end || end > data_len || tag_len == 0 || tag_len > SHA_DIGEST_LENGTH)
    return throw_error(env, "hmacVerify: range out of bounds");
  unsigned char mac[SHA_DIGEST_LENGTH];
  hmac_digest(h, data + start, end - start, mac);
  return boolean(env, CRYPTO_memcmp(mac, tag, tag_len) == 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* UDP send                                                                                        */

typedef struct {
  struct sockaddr_storage addr;
  socklen_t len;
} peer_t;

static void peer_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/*
 * udpAddress(host: string, port: number, ipv6Socket: boolean) -> external | null
 * The socket address to send to. An IPv4 host on an IPv6 socket becomes ::ffff:a.b.c.d, as Node
 * does. null when the host is not a numeric address the socket's family can reach.
 */
static napi_value udp_address(napi_env env, napi_callback_info info) {
  ARGS(3);
  char host[64];
  size_t host_len = 0;
  uint32_t port;
  bool v6sock;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len) != napi_ok ||
      !uint32_of(env, argv[1], &port) || port == 0 || port > 65535 || napi_get_value_bool(env, argv[2], &v6sock) != napi_ok)
    return throw_error(env, "udpAddress: bad arguments");
  peer_t *p = calloc(1, sizeof(peer_t));
  if (p == NULL) return throw_error(env, "udpAddress: out of memory");
  struct in_addr a4;
  struct in6_addr a6;
  /* A scope suffix (fe80::1%eth0) is not handled here: such peers use Node's send. */
  if (inet_pton(AF_INET, host, &a4) == 1) {
    if (v6sock) {
      struct sockaddr_in6 *s = (struct sockaddr_in6 *)&p->addr;
      s->sin6_family = AF_INET6;
      s->sin6_port = htons((uint16_t)port);
      s->sin6_addr.s6_addr[10] = 0xff;
      s->sin6_addr.s6_addr[11] = 0xff;
      memcpy(&s->sin6_addr.s6_addr[12], &a4, 4);
      p->len = sizeof(struct sockaddr_in6);
    } else {
      struct sockaddr_in *s = (struct sockaddr_in *)&p->addr;
      s->sin_family = AF_INET;
      s->sin_port = htons((uint16_t)port);
      s->sin_addr = a4;
      p->len = sizeof(struct sockaddr_in);
    }
  } else if (v6sock && inet_pton(AF_INET6, host, &a6) == 1) {
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&p->addr;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons((uint16_t)port);
    s->sin6_addr = a6;
    p->len = sizeof(struct sockaddr_in6);
  } else {
    free(p);
    napi_value nul;
    napi_get_null(env, &nul);
    return nul;
  }
  return wrap_external(env, p, peer_free, "udpAddress: cannot wrap the address");
}

/*
 * udpSend(fd: number, address: external, data: Uint8Array, length: number) -> number
 * One non-blocking sendto(): the bytes sent, or -errno (EAGAIN when the socket buffer is full: the
 * caller falls back to Node's queued send).
 */
static napi_value udp_send(napi_env env, napi_callback_info info) {
  ARGS(4);
  int32_t fd;
  peer_t *p = argc == 4 ? (peer_t *)external_of(env, argv[1]) : NULL;
  unsigned char *data;
  size_t data_len;
  uint32_t len;
  if (p == NULL || !int32_of(env, argv[0], &fd) || fd < 0 || !bytes_of(env, argv[2], &data, &data_len) ||
      !uint32_of(env, argv[3], &len) || len > data_len)
    return throw_error(env, "udpSend: bad arguments");
  ssize_t n;
  do {
    n = sendto(fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&p->addr, p->len);
  } while (n < 0 && errno == EINTR);
  return int32(env, n < 0 ? -errno : (int32_t)n);
}


#define SEND_MAX 64
#define SEND_META 3

/*
 * udpSendMany(ring: Uint8Array, meta: Int32Array, count: number, addresses: external[], slotSize: number)
 *   -> number (messages sent)
 * Sends `count` datagrams queued in `ring` (datagram i at i * slotSize) with one sendmmsg() per
 * socket instead of one sendto() each. meta, per datagram, SEND_META int32s: [0] the socket's
 * descriptor, [1] the length, [2] written back: the bytes sent, or -errno. Datagrams of one socket
 * leave in their queued order; after the first that fails (EAGAIN: the socket's buffer is full)
 * the rest of that socket's get the same error, so the caller can send them, in order, another way.
 */
static napi_value udp_send_many(napi_env env, napi_callback_info info) {
  ARGS(5);
  unsigned char *ring;
  size_t ring_len;
  napi_typedarray_type mtype;
  size_t meta_len, moff;
  void *meta_data = NULL;
  napi_value mab;
  uint32_t count, slot_size;
  bool is_array;
  if (argc < 5 || !bytes_of(env, argv[0], &ring, &ring_len) ||
      napi_get_typedarray_info(env, argv[1], &mtype, &meta_len, &meta_data, &mab, &moff) != napi_ok || mtype != napi_int32_array ||
      !uint32_of(env, argv[2], &count) || napi_is_array(env, argv[3], &is_array) != napi_ok || !is_array ||
      !uint32_of(env, argv[4], &slot_size) || slot_size == 0)
    return throw_error(env, "udpSendMany: bad arguments");
  if (count > SEND_MAX || meta_len < (size_t)count * SEND_META || ring_len < (size_t)count * slot_size)
    return throw_error(env, "udpSendMany: more datagrams than the ring or meta hold");
  int32_t *meta = (int32_t *)meta_data;
  peer_t *peers[SEND_MAX];
  for (uint32_t i = 0; i < count; i++) {
    napi_value a;
    if (napi_get_element(env, argv[3], i, &a) != napi_ok || (peers[i] = (peer_t *)external_of(env, a)) == NULL)
      return throw_error(env, "udpSendMany: an address is not a udpAddress");
    int32_t len = meta[i * SEND_META + 1];
    if (meta[i * SEND_META] < 0 || len < 0 || (uint32_t)len > slot_size) return throw_error(env, "udpSendMany: bad descriptor or length");
  }
  struct mmsghdr msgs[SEND_MAX];
  struct iovec iov[SEND_MAX];
  uint32_t index[SEND_MAX];
  unsigned char done[SEND_MAX];
  memset(done, 0, count);
  int32_t total = 0;
  for (uint32_t first = 0; first < count; first++) {
    if (done[first]) continue;
    int fd = meta[first * SEND_META];
    /* This socket's datagrams, in their queued order. */
    uint32_t k = 0;
    for (uint32_t j = first; j < count; j++) {
      if (done[j] || meta[j * SEND_META] != fd) continue;
      done[j] = 1;
      index[k] = j;
      iov[k].iov_base = ring + (size_t)j * slot_size;
      iov[k].iov_len = (size_t)meta[j * SEND_META + 1];
      memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      msgs[k].msg_hdr.msg_name = &peers[j]->addr;
      msgs[k].msg_hdr.msg_namelen = peers[j]->len;
      k++;
    }
    uint32_t sent = 0;
    while (sent < k) {
      int n = sendmmsg(fd, msgs + sent, k - sent, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        for (uint32_t x = sent; x < k; x++) meta[index[x] * SEND_META + 2] = -errno;
        break;
      }
      for (int x = 0; x < n; x++) meta[index[sent + x] * SEND_META + 2] = (int32_t)msgs[sent + x].msg_len;
      sent += (uint32_t)n;
      total += n;
    }
  }
  return int32(env, total);
}

/* ---------------------------------------------------------------------------------------------- */
/* Batched receive                                                                                 */

/*
 * A receiver reads a dgram socket's datagrams with recvmmsg() into slots of a ring the JavaScript
 * side allocated, and calls back once per batch (count) instead of Node's once per datagram, with
 * no per-datagram allocation, address string or callback scope. It polls a dup() of the socket's
 * descriptor: epoll keys on the descriptor, so Node's own watcher on the original (stopped for
 * reading, still used for queued sends) and ours never share one. The caller stops Node's reading
 * first (the handle's recvStop) and resumes it after udpRecvStop.
 *
 * meta, per slot, RECV_META int32s: [0] length (-1: truncated, dropped), [1] port, [2] family
 * (4 or 6), [3..6] the address (IPv4 in [3], network byte order as read by a little-endian host;
 * IPv6 in [3..6]), [7] the datagram's age in microseconds when the batch was read (-1: unknown).
 *
 * The age comes from the kernel's receive timestamp (SO_TIMESTAMPNS, taken when the datagram
 * reached the host, before the socket's queue): a datagram read late because the event loop was
 * busy keeps the time it arrived. Transport-wide feedback and the delay-based REMB are built from
 * arrival times; stamped at the read, a 100 ms stall of the loop reads as 100 ms of queue at the
 * publisher's bottleneck, and Chromium's estimator cuts for a queue that is not there.
 */
#define RECV_META 8
/* Room for one SCM_TIMESTAMPNS control message per slot. */
#define RECV_CONTROL CMSG_SPACE(sizeof(struct timespec))
#define RECV_MAX_SLOTS 64
/*
 * Batches read per wake-up while they come back full. The event loop wakes the receiver once per
 * iteration, so this caps what one socket takes in per iteration: with one UDP port for every peer
 * connection, that socket carries all the media. At 4 (128 datagrams of 32 slots), a loaded 2-core
 * machine (load average 15-20, iterations of hundreds of ms) read less than arrived: the socket's
 * queue grew to 1.4-3.4 MB (seconds of media) and subscribers fell back to audio, where a socket per
 * peer connection (32 each per iteration, Node's dgram) stayed under 62 KB. Reading what is queued
 * costs the same now or later; later only adds delay.
 */
#define RECV_ROUNDS 64

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_ref ring_ref;
  napi_ref meta_ref;
  napi_async_context async;
  napi_ref resource;
  unsigned char *ring;
  int32_t *meta;
  uint32_t slots;
  uint32_t slot_size;
  int fd;
  int stopped;
  /* Node's teardown of this thread's environment (a worker that ends or is terminated) waits for it. */
  napi_async_cleanup_hook_handle teardown;
  int tearing_down;
  struct mmsghdr msgs[RECV_MAX_SLOTS];
  struct iovec iov[RECV_MAX_SLOTS];
  struct sockaddr_storage from[RECV_MAX_SLOTS];
  /* Control buffers (the receive timestamp), 8-byte aligned for struct cmsghdr. */
  uint64_t control[RECV_MAX_SLOTS][(RECV_CONTROL + 7) / 8];
} receiver_t;

static void receiver_closed(uv_handle_t *h) {
  receiver_t *r = (receiver_t *)h->data;
  close(r->fd);
  /* Environment teardown: the poll handle is gone from the loop, Node may close it now. */
  if (r->tearing_down) napi_remove_async_cleanup_hook(r->teardown);
  free(r);
}

/* Gives back the receiver's references (callback, ring, meta, resource) and its async context. */
static void receiver_drop_refs(receiver_t *r) {
  napi_env env = r->env;
  napi_delete_reference(env, r->callback);
  napi_delete_reference(env, r->ring_ref);
  napi_delete_reference(env, r->meta_ref);
  napi_delete_reference(env, r->resource);
  napi_async_destroy(env, r->async);
}

/* udpRecvStop: the environment lives on, its references and async context are given back. */
static void receiver_release(receiver_t *r) {
  if (r->stopped) return;
  r->stopped = 1;
  uv_poll_stop(&r->poll);
  napi_remove_async_cleanup_hook(r->teardown);
  receiver_drop_refs(r);
  uv_close((uv_handle_t *)&r->poll, receiver_closed);
}

/*
 * The environment ends with the receiver still running (a worker thread terminated, or one whose
 * sockets were never closed): without this, its loop would close with our poll handle open,
 * which Node treats as a fatal error. The environment's references go with it.
 */
static void receiver_teardown(napi_async_cleanup_hook_handle handle, void *arg) {
  receiver_t *r = (receiver_t *)arg;
  (void)handle;
  if (r->stopped) return;
  r->stopped = 1;
  r->tearing_down = 1;
  uv_poll_stop(&r->poll);
  uv_close((uv_handle_t *)&r->poll, receiver_closed);
}

static void receiver_deliver(receiver_t *r, int n) {
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg, result;
  if (napi_get_reference_value(env, r->callback, &cb) == napi_ok && napi_get_reference_value(env, r->resource, &recv) == napi_ok &&
      napi_create_int32(env, n, &arg) == napi_ok) {
    /* make_callback: Node's callback scope, so promises and nextTicks made in the batch run after it. */
    if (napi_make_callback(env, r->async, recv, cb, 1, &arg, &result) == napi_pending_exception) {
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

/*
 * Microseconds from the kernel's receive timestamp to `now` (both CLOCK_REALTIME), or -1 without
 * one. A clock step between the two (NTP) could make it negative or huge: clamped to [0, 10 s].
 */
static int32_t datagram_age_us(const struct msghdr *hdr, const struct timespec *now) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(hdr); c != NULL; c = CMSG_NXTHDR((struct msghdr *)hdr, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS || c->cmsg_len < CMSG_LEN(sizeof(struct timespec))) continue;
    struct timespec ts;
    memcpy(&ts, CMSG_DATA(c), sizeof ts);
    int64_t us = ((int64_t)now->tv_sec - ts.tv_sec) * 1000000 + ((int64_t)now->tv_nsec - ts.tv_nsec) / 1000;
    if (us < 0) return 0;
    return us > 10000000 ? 10000000 : (int32_t)us;
  }
  return -1;
}

static void receiver_readable(uv_poll_t *h, int status, int events) {
  receiver_t *r = (receiver_t *)h->data;
  if (status < 0 || !(events & UV_READABLE)) return;
  for (int round = 0; round < RECV_ROUNDS && !r->stopped; round++) {
    for (uint32_t i = 0; i < r->slots; i++) {
      r->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      r->msgs[i].msg_hdr.msg_control = r->control[i];
      r->msgs[i].msg_hdr.msg_controllen = sizeof r->control[i];
      r->msgs[i].msg_hdr.msg_flags = 0;
    }
    int n;
    do {
      n = recvmmsg(r->fd, r->msgs, r->slots, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return; /* EAGAIN, or an error the next datagram will show again */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (int i = 0; i < n; i++) {
      int32_t *m = r->meta + (size_t)i * RECV_META;
      const struct msghdr *hdr = &r->msgs[i].msg_hdr;
      m[0] = (hdr->msg_flags & MSG_TRUNC) ? -1 : (int32_t)r->msgs[i].msg_len;
      const struct sockaddr_storage *from = &r->from[i];
      if (from->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
        m[1] = ntohs(a->sin6_port);
        m[2] = 6;
        memcpy(&m[3], &a->sin6_addr, 16);
      } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)from;
        m[1] = ntohs(a->sin_port);
        m[2] = 4;
        memcpy(&m[3], &a->sin_addr, 4);
      }
      m[7] = datagram_age_us(hdr, &now);
    }
    receiver_deliver(r, n);
    if ((uint32_t)n < r->slots) return;
  }
}

/*
 * udpRecvStart(fd: number, ring: Uint8Array, meta: Int32Array, slotSize: number, onBatch: (count) => void)
 *   -> external
 * ring holds slots of slotSize bytes (at most RECV_MAX_SLOTS), meta RECV_META int32s per slot.
 */
static napi_value udp_recv_start(napi_env env, napi_callback_info info) {
  ARGS(5);
  int32_t fd;
  unsigned char *ring;
  size_t ring_len;
  uint32_t slot_size;
  napi_typedarray_type mtype;
  size_t meta_len, moff;
  void *meta = NULL;
  napi_value mab;
  napi_valuetype cbtype;
  if (argc < 5 || !int32_of(env, argv[0], &fd) || fd < 0 || !bytes_of(env, argv[1], &ring, &ring_len) ||
      napi_get_typedarray_info(env, argv[2], &mtype, &meta_len, &meta, &mab, &moff) != napi_ok || mtype != napi_int32_array ||
      !uint32_of(env, argv[3], &slot_size) || slot_size < 64 || napi_typeof(env, argv[4], &cbtype) != napi_ok || cbtype != napi_function)
    return throw_error(env, "udpRecvStart: bad arguments");
  uint32_t slots = (uint32_t)(ring_len / slot_size);
  if (slots == 0 || slots > RECV_MAX_SLOTS || meta_len < (size_t)slots * RECV_META)
    return throw_error(env, "udpRecvStart: ring or meta of the wrong size");
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_error(env, "udpRecvStart: no event loop");
  receiver_t *r = calloc(1, sizeof(receiver_t));
  if (r == NULL) return throw_error(env, "udpRecvStart: out of memory");
  r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (r->fd < 0) {
    free(r);
    return throw_error(env, "udpRecvStart: dup failed");
  }
  /* Receive timestamps (see RECV_META). A socket option, so Node's own reads of the socket get the
   * control message too and ignore it. Without it, the ages are -1 and the caller stamps the read. */
  int one = 1;
  (void)setsockopt(r->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  r->env = env;
  r->ring = ring;
  r->meta = (int32_t *)meta;
  r->slots = slots;
  r->slot_size = slot_size;
  for (uint32_t i = 0; i < slots; i++) {
    r->iov[i].iov_base = ring + (size_t)i * slot_size;
    r->iov[i].iov_len = slot_size;
    r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
    r->msgs[i].msg_hdr.msg_iovlen = 1;
    r->msgs[i].msg_hdr.msg_name = &r->from[i];
  }
  napi_value resource, name, ext;
  if (napi_create_object(env, &resource) != napi_ok || napi_create_string_utf8(env, "ColloquyUdpReceive", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &r->async) != napi_ok) {
    close(r->fd);
    free(r);
    return throw_error(env, "udpRecvStart: async context");
  }
  napi_create_reference(env, argv[4], 1, &r->callback);
  napi_create_reference(env, argv[1], 1, &r->ring_ref);
  napi_create_reference(env, argv[2], 1, &r->meta_ref);
  napi_create_reference(env, resource, 1, &r->resource);
  if (uv_poll_init(loop, &r->poll, r->fd) != 0) {
    receiver_drop_refs(r);
    close(r->fd);
    free(r);
    return throw_error(env, "udpRecvStart: cannot poll the socket");
  }
  r->poll.data = r;
  if (napi_add_async_cleanup_hook(env, receiver_teardown, r, &r->teardown) != napi_ok) {
    receiver_drop_refs(r);
    r->stopped = 1;
    uv_close((uv_handle_t *)&r->poll, receiver_closed);
    return throw_error(env, "udpRecvStart: cannot register the teardown hook");
  }
  uv_poll_start(&r->poll, UV_READABLE, receiver_readable);
  /* The external does not own the receiver: udpRecvStop frees it (a stopped one is marked, not freed, until its close callback). */
  if (napi_create_external(env, r, NULL, NULL, &ext) != napi_ok) {
    receiver_release(r);
    return throw_error(env, "udpRecvStart: cannot wrap the receiver");
  }
  return ext;
}

/* udpRecvStop(receiver: external): stops reading and closes the receiver's descriptor. Idempotent. */
static napi_value udp_recv_stop(napi_env env, napi_callback_info info) {
  ARGS(1);
  receiver_t *r = argc == 1 ? (receiver_t *)external_of(env, argv[0]) : NULL;
  if (r == NULL) return throw_error(env, "udpRecvStop: bad arguments");
  receiver_release(r);
  return undefined(env);
}
/* ---------------------------------------------------------------------------------------------- */

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"gcmNew", gcm_new},       {"gcmSeal", gcm_seal},       {"gcmOpen", gcm_open},
      {"gcmOpenPacket", gcm_open_packet},
      {"hmacNew", hmac_new},     {"hmacSign", hmac_sign},     {"hmacVerify", hmac_verify},
      {"udpAddress", udp_address}, {"udpSend", udp_send},         {"udpSendMany", udp_send_many},
      {"udpRecvStart", udp_recv_start}, {"udpRecvStop", udp_recv_stop},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
      return NULL;
  }
  /* The JavaScript side checks the receiver's meta layout against its own before using it. */
  napi_value recv_meta;
  if (napi_create_uint32(env, RECV_META, &recv_meta) != napi_ok || napi_set_named_property(env, exports, "recvMeta", recv_meta) != napi_ok) return NULL;
  return exports;
}
