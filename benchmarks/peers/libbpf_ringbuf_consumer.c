/* Ring buffer throughput peer: plain libbpf (no skeleton) loading
 * programs/ringbuf_tp.bpf.o and consuming its `events` ring buffer.
 * Build: gcc -O2 -o libbpf_ringbuf_consumer libbpf_ringbuf_consumer.c -lbpf
 * Run:   ./libbpf_ringbuf_consumer ringbuf_tp.bpf.o RECORDS_PER_TRIGGER TRIGGERS
 * Prints: records=N drops=D secs=S rate=R   (R = records per second) */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

struct event_rec {
	uint64_t seq;
};

static uint64_t records;
static uint64_t bad_records;

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	if (size != sizeof(struct event_rec))
		bad_records++;
	records++;
	return 0;
}

/* Writes a __u32 value into the named variable of the object's .rodata,
 * using the DATASEC in the object's BTF to find its offset. */
static int set_rodata_u32(struct bpf_object *obj, const char *var, uint32_t value)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, ".rodata");
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *sec;
	const struct btf_var_secinfo *vsi;
	const void *initial;
	size_t size;
	char *data;
	int id, i, err;

	if (!map || !btf) {
		fprintf(stderr, "no .rodata map or no BTF in object\n");
		return -1;
	}
	initial = bpf_map__initial_value(map, &size);
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (!initial || id < 0) {
		fprintf(stderr, "cannot find .rodata data or DATASEC\n");
		return -1;
	}
	sec = btf__type_by_id(btf, id);
	vsi = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vsi++) {
		const struct btf_type *v = btf__type_by_id(btf, vsi->type);

		if (strcmp(btf__name_by_offset(btf, v->name_off), var) != 0)
			continue;
		if (vsi->size != sizeof(value) || vsi->offset + vsi->size > size) {
			fprintf(stderr, "%s: unexpected size %u\n", var, vsi->size);
			return -1;
		}
		/* Copy, patch, and hand the whole image back to libbpf. */
		data = malloc(size);
		if (!data)
			return -1;
		memcpy(data, initial, size);
		memcpy(data + vsi->offset, &value, sizeof(value));
		err = bpf_map__set_initial_value(map, data, size);
		free(data);
		if (err) {
			fprintf(stderr, "set .rodata: %s\n", strerror(-err));
			return -1;
		}
		return 0;
	}
	fprintf(stderr, "%s not found in .rodata\n", var);
	return -1;
}

static double now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_link *link;
	struct ring_buffer *rb;
	uint32_t per_trigger, zero = 0;
	uint64_t drops = 0;
	long triggers, i;
	double t0, secs;
	int err;

	if (argc != 4) {
		fprintf(stderr, "usage: %s OBJ.o RECORDS_PER_TRIGGER TRIGGERS\n", argv[0]);
		return 2;
	}
	per_trigger = strtoul(argv[2], NULL, 10);
	triggers = strtol(argv[3], NULL, 10);
	if (per_trigger < 1 || per_trigger > 1000 || triggers < 1) {
		fprintf(stderr, "RECORDS_PER_TRIGGER must be 1..1000, TRIGGERS >= 1\n");
		return 2;
	}

	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (set_rodata_u32(obj, "target_tgid", (uint32_t)getpid()) ||
	    set_rodata_u32(obj, "records_per_trigger", per_trigger))
		return 1;
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, "emit_ringbuf");
	if (!prog) {
		fprintf(stderr, "program emit_ringbuf not found\n");
		return 1;
	}
	link = bpf_program__attach(prog);
	if (!link) {
		fprintf(stderr, "attach: %s (is tracefs mounted?)\n", strerror(errno));
		return 1;
	}
	rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "events"),
			      on_record, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}

	t0 = now_secs();
	for (i = 0; i < triggers; i++) {
		syscall(SYS_getpgid, 0);
		if (ring_buffer__consume(rb) < 0) {
			fprintf(stderr, "ring_buffer__consume failed\n");
			return 1;
		}
	}
	secs = now_secs() - t0;

	bpf_map_lookup_elem(bpf_object__find_map_fd_by_name(obj, "drops"), &zero, &drops);
	printf("records=%llu drops=%llu secs=%.6f rate=%.0f\n",
	       (unsigned long long)records, (unsigned long long)drops, secs,
	       secs > 0 ? records / secs : 0.0);
	if (bad_records)
		fprintf(stderr, "warning: %llu records had an unexpected size\n",
			(unsigned long long)bad_records);

	ring_buffer__free(rb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
