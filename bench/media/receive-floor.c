/* The kernel's floor under receiving UDP on this machine, for receive-floor.bench.ts: one
 * non-blocking socket on 127.0.0.1:PORT, epoll_wait, then recvfrom until EAGAIN (what libuv does
 * for a Node dgram socket, without Node). A 1-byte datagram ends the run: prints
 * "<datagrams> <cpu microseconds>" (getrusage, user + system, from the first datagram on). */
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

static double cpu_us(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  a.sin_addr.s_addr = htonl(0x7f000001);
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) return 1;
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
  printf("ready\n");
  fflush(stdout);
  static char buf[65536];
  long n = 0;
  double start = -1;
  for (;;) {
    epoll_wait(ep, &ev, 1, -1);
    for (;;) {
      struct sockaddr_in from;
      socklen_t fl = sizeof from;
      int k = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
      if (k < 0) break;
      if (start < 0) start = cpu_us();
      if (k == 1) {
        printf("%ld %.0f\n", n, cpu_us() - start);
        return 0;
      }
      n++;
    }
  }
}
