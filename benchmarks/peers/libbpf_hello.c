// The hello world of the toolkit benchmark as a libbpf skeleton program (user side): what
// libbpf-tools' tools do, with the object compiled ahead by clang-14 and embedded by bpftool.
#include <stdio.h>
#include <bpf/libbpf.h>
#include "libbpf_hello.skel.h"

struct event { char file[64]; unsigned int pid; };

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	printf("Hello, World! pid %u runs %s\n", e->pid, e->file);
	fflush(stdout);
	return 0;
}

int main(void)
{
	struct libbpf_hello_bpf *skel = libbpf_hello_bpf__open_and_load();
	if (!skel || libbpf_hello_bpf__attach(skel)) {
		fprintf(stderr, "cannot load or attach\n");
		return 1;
	}
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb)
		return 1;
	printf("Tracing execve... Ctrl-C to end.\n");
	fflush(stdout);
	while (ring_buffer__poll(rb, 100) >= 0)
		;
	return 0;
}
