// nfqueue-delay: a one-way delay line for the impaired-network harness (src/netem.ts), for kernels
// without tc netem (sch_netem). An nftables rule inside a network namespace hands every packet of
// one direction to NFQUEUE number QUEUE; this program, run inside that namespace, holds each one
// for DELAY_MS (± JITTER_MS, normal) and then lets it go on (NF_ACCEPT). Only the packet's id
// crosses to userspace (copy mode "meta"), never its bytes, so the cost per packet is one netlink
// message each way (verdicts are batched: every packet whose time has come goes in one message).
//
// Packets leave in the order they came: a jittered deadline earlier than the one before it waits
// for that one (netem would reorder them; a path that keeps order is the common case on real
// links, and the SFU's jitter buffer tests do not rely on reordering).
//
//   nfqueue-delay QUEUE DELAY_MS JITTER_MS READY_FILE
//
// Writes READY_FILE once bound to the queue (the rule that feeds it says `bypass`, so packets pass
// undelayed until then). Reads "DELAY_MS JITTER_MS" lines on stdin to change the delay while
// packets flow (packets already held keep their deadline). Exits when stdin closes, after the
// packets it holds have gone. Talks netlink directly (linux/netfilter/nfnetlink_queue.h, from
// linux-libc-dev), so it needs no library beyond libc.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CAPACITY 65536 /* held packets at most (the kernel queue's length is set to the same) */

static int nl = -1;
static uint16_t queue_num;
static uint32_t seq = 1;

static struct {
  uint32_t id;
  int64_t due_ns;
} held[CAPACITY];
static size_t head = 0, count = 0;
static int64_t last_due_ns = 0;
static double delay_ms = 0, jitter_ms = 0;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "nfqueue-delay (queue %u): %s: %s\n", queue_num, what, strerror(errno));
  exit(1);
}

/* Appends one attribute to the message at buf (whose nlmsg_len is kept current). */
static void put_attr(char *buf, uint16_t type, const void *data, uint16_t len) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  struct nlattr *attr = (struct nlattr *)(buf + NLMSG_ALIGN(nlh->nlmsg_len));
  attr->nla_type = type;
  attr->nla_len = NLA_HDRLEN + len;
  memcpy((char *)attr + NLA_HDRLEN, data, len);
  nlh->nlmsg_len = NLMSG_ALIGN(nlh->nlmsg_len) + NLA_ALIGN(attr->nla_len);
}

/* Starts a queue subsystem message of `type` for our queue in buf. */
static void begin(char *buf, uint16_t type, uint16_t flags) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  memset(buf, 0, NLMSG_SPACE(sizeof(struct nfgenmsg)));
  nlh->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
  nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq++;
  struct nfgenmsg *nfg = NLMSG_DATA(nlh);
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(queue_num);
}

static void send_msg(char *buf) {
  struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(nl, buf, nlh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) die("sendto");
}

/* Sends a config message and waits for the kernel's acknowledgement. */
static void configure(char *buf, const char *what) {
  send_msg(buf);
  char reply[8192];
  for (;;) {
    ssize_t n = recv(nl, reply, sizeof(reply), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recv (config)");
    }
    for (struct nlmsghdr *nlh = (struct nlmsghdr *)reply; NLMSG_OK(nlh, (size_t)n); nlh = NLMSG_NEXT(nlh, n)) {
      if (nlh->nlmsg_type != NLMSG_ERROR) continue;
      struct nlmsgerr *err = NLMSG_DATA(nlh);
      if (err->error != 0) {
        errno = -err->error;
        die(what);
      }
      return;
    }
  }
}

/* One draw of the delay for a packet arriving now, never earlier than the packet before it. */
static int64_t due_for(int64_t now) {
  double ms = delay_ms;
  if (jitter_ms > 0) {
    double u1 = (rand() + 1.0) / ((double)RAND_MAX + 2.0), u2 = (rand() + 1.0) / ((double)RAND_MAX + 2.0);
    ms += jitter_ms * sqrt(-2.0 * log(u1)) * cos(2 * M_PI * u2);
  }
  if (ms < 0) ms = 0;
  int64_t due = now + (int64_t)(ms * 1e6);
  if (due < last_due_ns) due = last_due_ns;
  last_due_ns = due;
  return due;
}

/* Accepts, in one batch verdict, every held packet whose time has come. */
static void release_due(int64_t now) {
  uint32_t last = 0;
  int any = 0;
  while (count > 0 && held[head].due_ns <= now) {
    last = held[head].id;
    any = 1;
    head = (head + 1) % CAPACITY;
    count--;
  }
  if (!any) return;
  char buf[NLMSG_SPACE(sizeof(struct nfgenmsg)) + NLA_HDRLEN + sizeof(struct nfqnl_msg_verdict_hdr) + 16];
  begin(buf, NFQNL_MSG_VERDICT_BATCH, 0);
  struct nfqnl_msg_verdict_hdr verdict = {.verdict = htonl(NF_ACCEPT), .id = htonl(last)};
  put_attr(buf, NFQA_VERDICT_HDR, &verdict, sizeof(verdict));
  send_msg(buf);
}

/* Takes the packets in one read from the netlink socket into the delay line. */
static void take_packets(char *buf, ssize_t n) {
  int64_t now = now_ns();
  for (struct nlmsghdr *nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, (size_t)n); nlh = NLMSG_NEXT(nlh, n)) {
    if (nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) continue;
    int len = nlh->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
    struct nlattr *attr = (struct nlattr *)((char *)NLMSG_DATA(nlh) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
    while (len >= (int)NLA_HDRLEN && attr->nla_len >= NLA_HDRLEN && attr->nla_len <= len) {
      if ((attr->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR) {
        struct nfqnl_msg_packet_hdr *ph = (struct nfqnl_msg_packet_hdr *)((char *)attr + NLA_HDRLEN);
        if (count == CAPACITY) release_due(INT64_MAX); /* cannot hold more: let the oldest go now */
        size_t tail = (head + count) % CAPACITY;
        held[tail].id = ntohl(ph->packet_id);
        held[tail].due_ns = due_for(now);
        count++;
        break;
      }
      len -= NLA_ALIGN(attr->nla_len);
      attr = (struct nlattr *)((char *)attr + NLA_ALIGN(attr->nla_len));
    }
  }
}

/* Applies "DELAY_MS JITTER_MS" lines from stdin; returns 0 at end of input. */
static int read_control(void) {
  static char line[256];
  static size_t used = 0;
  ssize_t n = read(STDIN_FILENO, line + used, sizeof(line) - 1 - used);
  if (n == 0) return 0;
  if (n < 0) return errno == EINTR || errno == EAGAIN ? 1 : 0;
  used += n;
  line[used] = 0;
  char *nl_at;
  while ((nl_at = strchr(line, '\n')) != NULL) {
    *nl_at = 0;
    double d, j;
    if (sscanf(line, "%lf %lf", &d, &j) == 2 && d >= 0 && j >= 0) {
      delay_ms = d;
      jitter_ms = j;
    } else {
      fprintf(stderr, "nfqueue-delay (queue %u): ignored control line \"%s\" (want \"DELAY_MS JITTER_MS\")\n", queue_num, line);
    }
    size_t rest = used - (nl_at + 1 - line);
    memmove(line, nl_at + 1, rest + 1);
    used = rest;
  }
  if (used == sizeof(line) - 1) used = 0; /* a line too long to be ours */
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: nfqueue-delay QUEUE DELAY_MS JITTER_MS READY_FILE\n");
    return 2;
  }
  queue_num = (uint16_t)atoi(argv[1]);
  delay_ms = atof(argv[2]);
  jitter_ms = atof(argv[3]);
  srand((unsigned)now_ns());

  /* The delay line stands for a network path, which CPU load does not hold up: normally
     scheduled on a loaded machine (the impairment bench's browsers on 2 cores, load 8), it woke
     late and let packets go in clumps every ~100 ms, which the receiver saw as a stalling link.
     Real-time priority where allowed, the highest nice level otherwise (silently: stderr output
     while starting is taken for a failure). It sleeps in ppoll between packets. */
  struct sched_param realtime = {.sched_priority = 10};
  if (sched_setscheduler(0, SCHED_FIFO, &realtime) != 0) (void)setpriority(PRIO_PROCESS, 0, -20);

  nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (nl < 0) die("socket(NETLINK_NETFILTER)");
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(nl, (struct sockaddr *)&local, sizeof(local)) < 0) die("bind");
  int rcvbuf = 8 << 20, one = 1;
  if (setsockopt(nl, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0) setsockopt(nl, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  setsockopt(nl, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));

  char buf[1 << 16];
  begin(buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
  struct nfqnl_msg_config_cmd bind_cmd = {.command = NFQNL_CFG_CMD_BIND};
  put_attr(buf, NFQA_CFG_CMD, &bind_cmd, sizeof(bind_cmd));
  configure(buf, "binding the queue (is another program bound to it?)");

  begin(buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
  struct nfqnl_msg_config_params params = {.copy_range = htonl(0), .copy_mode = NFQNL_COPY_META};
  put_attr(buf, NFQA_CFG_PARAMS, &params, sizeof(params));
  uint32_t maxlen = htonl(CAPACITY);
  put_attr(buf, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof(maxlen));
  /* A full queue lets packets through rather than dropping them: the delay line never adds loss. */
  uint32_t flags = htonl(NFQA_CFG_F_FAIL_OPEN);
  put_attr(buf, NFQA_CFG_MASK, &flags, sizeof(flags));
  put_attr(buf, NFQA_CFG_FLAGS, &flags, sizeof(flags));
  configure(buf, "configuring the queue");

  FILE *ready = fopen(argv[4], "w");
  if (ready == NULL) die("writing the ready file");
  fprintf(ready, "%d\n", (int)getpid());
  fclose(ready);

  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  int input_open = 1;
  for (;;) {
    int64_t now = now_ns();
    release_due(now);
    if (!input_open && count == 0) return 0;
    struct timespec wait = {.tv_sec = 1, .tv_nsec = 0};
    if (count > 0) {
      int64_t left = held[head].due_ns - now;
      if (left < 0) left = 0;
      wait.tv_sec = left / 1000000000;
      wait.tv_nsec = left % 1000000000;
    }
    struct pollfd fds[2] = {{.fd = nl, .events = POLLIN}, {.fd = input_open ? STDIN_FILENO : -1, .events = POLLIN}};
    int ready_fds = ppoll(fds, 2, &wait, NULL);
    if (ready_fds < 0) {
      if (errno == EINTR) continue;
      die("ppoll");
    }
    if (fds[0].revents & POLLIN) {
      ssize_t n = recv(nl, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) take_packets(buf, n);
      else if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOBUFS) die("recv");
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) input_open = read_control();
  }
}
