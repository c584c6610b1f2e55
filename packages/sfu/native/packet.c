/*
 * colloquy_packet: the few per-packet operations Node makes expensive, done once in C.
 *
 *  - AES-128-GCM seal/open (RFC 7714) with one OpenSSL context per session key, re-used for every
 *    packet (Node builds a GCM cipher object per packet: 3.5-8 us per 1200 bytes here).
 *  - HMAC-SHA1 (RFC 3711 tags) from the keyed inner and outer SHA-1 states, copied per packet
 *    (Node builds an Hmac object per packet: 2.3-3.8 us).
 *  - A synchronous sendto() on a dgram socket's descriptor, to a socket address built once
 *    (Node's dgram.send looks the address up, allocates a request and defers to nextTick).
 *
 * OpenSSL is Node's own: its symbols are exported by the node binary and its headers ship with
 * Node's (node-gyp puts include/node first). Every function is re-entrant and keeps no global state
 * but a thread-local scratch buffer, so worker threads may load the module too.
 */
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
  if (ct_len > SCRATCH) return boolean(env, 0);
  unsigned char tag_copy[GCM_TAG];
  memcpy(tag_copy, tag, GCM_TAG);
  int n, m;
  EVP_CIPHER_CTX *c = g->dec;
  if (EVP_DecryptInit_ex(c, NULL, NULL, NULL, iv) != 1 || EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1 ||
      EVP_DecryptUpdate(c, scratch, &n, ct, (int)ct_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tag_copy) != 1)
    return boolean(env, 0);
  if (EVP_DecryptFinal_ex(c, scratch + n, &m) != 1) return boolean(env, 0);
  memcpy(out + off, scratch, ct_len);
  return boolean(env, 1);
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

/* ---------------------------------------------------------------------------------------------- */

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"gcmNew", gcm_new},       {"gcmSeal", gcm_seal},       {"gcmOpen", gcm_open},
      {"hmacNew", hmac_new},     {"hmacSign", hmac_sign},     {"hmacVerify", hmac_verify},
      {"udpAddress", udp_address}, {"udpSend", udp_send},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
      return NULL;
  }
  return exports;
}
