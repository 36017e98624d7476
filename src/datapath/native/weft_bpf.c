// N-API addon over libbpf: BPF objects, maps, tc attachment (optionally inside another network namespace)
// and ring buffer consumption on the libuv loop. Every function is synchronous and short except the ring
// buffer, which is read from a uv_poll on its epoll fd, so the JS thread never blocks in the kernel.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define MAX_OBJECTS 64

static struct bpf_object *objects[MAX_OBJECTS];

// ---------------------------------------------------------------------------------------------- helpers

static napi_value throw_errno(napi_env env, const char *what, int err)
{
	char msg[512];
	char code[32];
	if (err < 0)
		err = -err;
	snprintf(msg, sizeof(msg), "%s: %s (errno %d)", what, strerror(err), err);
	snprintf(code, sizeof(code), "E%d", err);
	napi_throw_error(env, code, msg);
	return NULL;
}

static napi_value throw_msg(napi_env env, const char *msg)
{
	napi_throw_error(env, NULL, msg);
	return NULL;
}

#define CHECK(call)                                                                                                    \
	do {                                                                                                           \
		if ((call) != napi_ok)                                                                                 \
			return throw_msg(env, "N-API call failed: " #call);                                            \
	} while (0)

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = want;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
		napi_throw_type_error(env, NULL, "missing arguments");
		return -1;
	}
	return 0;
}

static int get_i32(napi_env env, napi_value v, int32_t *out)
{
	if (napi_get_value_int32(env, v, out) != napi_ok) {
		napi_throw_type_error(env, NULL, "expected a number");
		return -1;
	}
	return 0;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out)
{
	if (napi_get_value_uint32(env, v, out) != napi_ok) {
		napi_throw_type_error(env, NULL, "expected a number");
		return -1;
	}
	return 0;
}

// Copies a JS string into buf; an empty string, null or undefined give "".
static int get_str(napi_env env, napi_value v, char *buf, size_t size)
{
	napi_valuetype t;
	buf[0] = 0;
	napi_typeof(env, v, &t);
	if (t == napi_null || t == napi_undefined)
		return 0;
	if (napi_get_value_string_utf8(env, v, buf, size, NULL) != napi_ok) {
		napi_throw_type_error(env, NULL, "expected a string");
		return -1;
	}
	return 0;
}

static int get_buf(napi_env env, napi_value v, void **data, size_t *len)
{
	bool is;
	napi_is_buffer(env, v, &is);
	if (!is || napi_get_buffer_info(env, v, data, len) != napi_ok) {
		napi_throw_type_error(env, NULL, "expected a Buffer");
		return -1;
	}
	return 0;
}

static napi_value num(napi_env env, double d)
{
	napi_value v;
	napi_create_double(env, d, &v);
	return v;
}

static napi_value boolean(napi_env env, bool b)
{
	napi_value v;
	napi_get_boolean(env, b, &v);
	return v;
}

static napi_value undefined(napi_env env)
{
	napi_value v;
	napi_get_undefined(env, &v);
	return v;
}

// libbpf prints to stderr by default; keep warnings, drop debug chatter and the expected messages:
// "Exclusivity flag on" from bpf_tc_hook_create on an existing clsact qdisc, and the kernel's "Cannot find
// specified filter chain" when a query or detach finds no filter (both reported to JS as results instead).
static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char line[1024];
	if (level != LIBBPF_WARN && !getenv("WEFT_BPF_DEBUG"))
		return 0;
	vsnprintf(line, sizeof(line), fmt, args);
	if (strstr(line, "Exclusivity flag on") || strstr(line, "Cannot find specified filter chain") ||
	    strstr(line, "found multiple times in message") || strstr(line, "Parent Qdisc doesn't exists"))
		return 0;
	return fputs(line, stderr);
}

// Runs inside the network namespace at path (empty: the current one) for the duration of one call.
struct netns_guard {
	int orig;
};

static int netns_enter(const char *path, struct netns_guard *g)
{
	g->orig = -1;
	if (!path[0])
		return 0;
	int target = open(path, O_RDONLY | O_CLOEXEC);
	if (target < 0)
		return -errno;
	g->orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (g->orig < 0) {
		int err = -errno;
		close(target);
		return err;
	}
	if (setns(target, CLONE_NEWNET)) {
		int err = -errno;
		close(target);
		close(g->orig);
		g->orig = -1;
		return err;
	}
	close(target);
	return 0;
}

static void netns_leave(struct netns_guard *g)
{
	if (g->orig < 0)
		return;
	if (setns(g->orig, CLONE_NEWNET)) {
		// Staying in the wrong namespace would silently misdirect every later call: fail loudly.
		perror("weft_bpf: cannot return to the original network namespace");
		abort();
	}
	close(g->orig);
	g->orig = -1;
}

// ---------------------------------------------------------------------------------------------- bpffs

// ensureBpffs(dir): mounts bpffs at dir when it is not one yet.
static napi_value ensure_bpffs(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	char path[512];
	struct statfs st;
	if (get_args(env, info, 1, argv) || get_str(env, argv[0], path, sizeof(path)))
		return NULL;
	if (statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return boolean(env, false);
	if (mount("bpf", path, "bpf", 0, NULL))
		return throw_errno(env, "mount bpffs", errno);
	return boolean(env, true);
}

// ---------------------------------------------------------------------------------------------- objects

// openObject(file, pinRoot): opens and loads a BPF object; maps marked for pinning are pinned (or reused)
// under pinRoot. Returns an object handle.
static napi_value open_object(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	char file[1024], pin_root[512];
	if (get_args(env, info, 2, argv) || get_str(env, argv[0], file, sizeof(file)) ||
	    get_str(env, argv[1], pin_root, sizeof(pin_root)))
		return NULL;
	int slot = -1;
	for (int i = 0; i < MAX_OBJECTS; i++)
		if (!objects[i]) {
			slot = i;
			break;
		}
	if (slot < 0)
		return throw_msg(env, "openObject: too many open BPF objects");
	bool created = false;
	if (pin_root[0]) {
		if (mkdir(pin_root, 0700) == 0)
			created = true;
		else if (errno != EEXIST)
			return throw_errno(env, "openObject: mkdir pin root", errno);
	}
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root[0] ? pin_root : NULL);
	struct bpf_object *obj = bpf_object__open_file(file, &opts);
	long err = libbpf_get_error(obj);
	if (err) {
		if (created)
			rmdir(pin_root); // a failed open leaves no empty pin directory behind
		return throw_errno(env, "openObject: open", (int)err);
	}
	err = bpf_object__load(obj);
	if (err) {
		bpf_object__close(obj);
		if (created)
			rmdir(pin_root); // fails, harmlessly, if maps were pinned before the load failed
		return throw_errno(env, "openObject: load (run with WEFT_BPF_DEBUG=1 for the verifier log)", (int)err);
	}
	objects[slot] = obj;
	return num(env, slot);
}

static struct bpf_object *object_arg(napi_env env, napi_value v)
{
	int32_t id;
	if (get_i32(env, v, &id))
		return NULL;
	if (id < 0 || id >= MAX_OBJECTS || !objects[id]) {
		throw_msg(env, "no such BPF object (closed?)");
		return NULL;
	}
	return objects[id];
}

// closeObject(handle): unloads programs (attached tc filters keep their own reference) and closes map fds.
static napi_value close_object(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	int32_t id;
	if (get_args(env, info, 1, argv) || get_i32(env, argv[0], &id))
		return NULL;
	if (id >= 0 && id < MAX_OBJECTS && objects[id]) {
		bpf_object__close(objects[id]);
		objects[id] = NULL;
	}
	return undefined(env);
}

static napi_value program_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	char name[256];
	if (get_args(env, info, 2, argv))
		return NULL;
	struct bpf_object *obj = object_arg(env, argv[0]);
	if (!obj || get_str(env, argv[1], name, sizeof(name)))
		return NULL;
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, name);
	if (!prog)
		return throw_errno(env, "programFd: no such program", ENOENT);
	return num(env, bpf_program__fd(prog));
}

static napi_value map_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	char name[256];
	if (get_args(env, info, 2, argv))
		return NULL;
	struct bpf_object *obj = object_arg(env, argv[0]);
	if (!obj || get_str(env, argv[1], name, sizeof(name)))
		return NULL;
	struct bpf_map *map = bpf_object__find_map_by_name(obj, name);
	if (!map)
		return throw_errno(env, "mapFd: no such map", ENOENT);
	return num(env, bpf_map__fd(map));
}

// ---------------------------------------------------------------------------------------------- cgroups

// cgroupAttach(handle, program, cgroupPath, linkPin): attaches a cgroup program through a BPF link pinned at
// linkPin, so the attachment outlives the process and a restarted agent finds it. A link already pinned
// there gets the (new) program instead: the attachment is replaced, never doubled.
static napi_value cgroup_attach(napi_env env, napi_callback_info info)
{
	napi_value argv[4];
	char name[256], cgroup[1024], pin[1024];
	if (get_args(env, info, 4, argv))
		return NULL;
	struct bpf_object *obj = object_arg(env, argv[0]);
	if (!obj || get_str(env, argv[1], name, sizeof(name)) || get_str(env, argv[2], cgroup, sizeof(cgroup)) ||
	    get_str(env, argv[3], pin, sizeof(pin)))
		return NULL;
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, name);
	if (!prog)
		return throw_errno(env, "cgroupAttach: no such program", ENOENT);
	struct bpf_link *link = access(pin, F_OK) ? NULL : bpf_link__open(pin);
	if (link && !libbpf_get_error(link)) {
		int err = bpf_link__update_program(link, prog);
		bpf_link__destroy(link);
		if (err)
			return throw_errno(env, "cgroupAttach: update the pinned link", -err);
		return num(env, 1);
	}
	int cg = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return throw_errno(env, "cgroupAttach: open the cgroup", errno);
	link = bpf_program__attach_cgroup(prog, cg);
	close(cg);
	long err = libbpf_get_error(link);
	if (err)
		return throw_errno(env, "cgroupAttach: attach", (int)-err);
	err = bpf_link__pin(link, pin);
	// The pin holds the attachment; our fd is not needed (closing it does not detach a pinned link).
	bpf_link__destroy(link);
	if (err)
		return throw_errno(env, "cgroupAttach: pin the link", (int)-err);
	return num(env, 0);
}

// cgroupDetach(linkPin): detaches the link pinned there and removes the pin; false when there was none.
static napi_value cgroup_detach(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	char pin[1024];
	if (get_args(env, info, 1, argv) || get_str(env, argv[0], pin, sizeof(pin)))
		return NULL;
	int fd = bpf_obj_get(pin);
	if (fd < 0) {
		if (errno == ENOENT)
			return boolean(env, false);
		return throw_errno(env, "cgroupDetach: open the pinned link", errno);
	}
	int err = bpf_link_detach(fd) ? errno : 0;
	close(fd);
	if (err)
		return throw_errno(env, "cgroupDetach: detach", err);
	if (unlink(pin) && errno != ENOENT)
		return throw_errno(env, "cgroupDetach: unpin", errno);
	return boolean(env, true);
}

// ---------------------------------------------------------------------------------------------- maps

// mapCreate(type, keySize, valueSize, maxEntries, name, flags) → fd
static napi_value map_create(napi_env env, napi_callback_info info)
{
	napi_value argv[6];
	uint32_t type, key_size, value_size, max_entries, flags;
	char name[BPF_OBJ_NAME_LEN];
	if (get_args(env, info, 6, argv) || get_u32(env, argv[0], &type) || get_u32(env, argv[1], &key_size) ||
	    get_u32(env, argv[2], &value_size) || get_u32(env, argv[3], &max_entries) ||
	    get_str(env, argv[4], name, sizeof(name)) || get_u32(env, argv[5], &flags))
		return NULL;
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
	int fd = bpf_map_create(type, name, key_size, value_size, max_entries, &opts);
	if (fd < 0)
		return throw_errno(env, "mapCreate", errno);
	return num(env, fd);
}

// objPin(fd, path) / objGet(path) → fd
static napi_value obj_pin(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	int32_t fd;
	char path[512];
	if (get_args(env, info, 2, argv) || get_i32(env, argv[0], &fd) || get_str(env, argv[1], path, sizeof(path)))
		return NULL;
	if (bpf_obj_pin(fd, path))
		return throw_errno(env, "objPin", errno);
	return undefined(env);
}

static napi_value obj_get(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	char path[512];
	if (get_args(env, info, 1, argv) || get_str(env, argv[0], path, sizeof(path)))
		return NULL;
	int fd = bpf_obj_get(path);
	if (fd < 0)
		return throw_errno(env, "objGet", errno);
	return num(env, fd);
}

static napi_value close_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	int32_t fd;
	if (get_args(env, info, 1, argv) || get_i32(env, argv[0], &fd))
		return NULL;
	close(fd);
	return undefined(env);
}

// mapLookup(fd, key, valueSize) → Buffer | null
static napi_value map_lookup(napi_env env, napi_callback_info info)
{
	napi_value argv[3], out;
	int32_t fd;
	uint32_t value_size;
	void *key, *value;
	size_t key_len;
	if (get_args(env, info, 3, argv) || get_i32(env, argv[0], &fd) || get_buf(env, argv[1], &key, &key_len) ||
	    get_u32(env, argv[2], &value_size))
		return NULL;
	CHECK(napi_create_buffer(env, value_size, &value, &out));
	if (bpf_map_lookup_elem(fd, key, value)) {
		if (errno == ENOENT) {
			napi_get_null(env, &out);
			return out;
		}
		return throw_errno(env, "mapLookup", errno);
	}
	return out;
}

// mapUpdate(fd, key, value, flags)
static napi_value map_update(napi_env env, napi_callback_info info)
{
	napi_value argv[4];
	int32_t fd;
	uint32_t flags;
	void *key, *value;
	size_t key_len, value_len;
	if (get_args(env, info, 4, argv) || get_i32(env, argv[0], &fd) || get_buf(env, argv[1], &key, &key_len) ||
	    get_buf(env, argv[2], &value, &value_len) || get_u32(env, argv[3], &flags))
		return NULL;
	if (bpf_map_update_elem(fd, key, value, flags))
		return throw_errno(env, "mapUpdate", errno);
	return undefined(env);
}

// mapDelete(fd, key) → true when an entry was deleted
static napi_value map_delete(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	int32_t fd;
	void *key;
	size_t key_len;
	if (get_args(env, info, 2, argv) || get_i32(env, argv[0], &fd) || get_buf(env, argv[1], &key, &key_len))
		return NULL;
	if (bpf_map_delete_elem(fd, key)) {
		if (errno == ENOENT)
			return boolean(env, false);
		return throw_errno(env, "mapDelete", errno);
	}
	return boolean(env, true);
}

// mapKeys(fd, keySize) → Buffer[] (a snapshot; entries added meanwhile may be missed)
static napi_value map_keys(napi_env env, napi_callback_info info)
{
	napi_value argv[2], arr;
	int32_t fd;
	uint32_t key_size;
	if (get_args(env, info, 2, argv) || get_i32(env, argv[0], &fd) || get_u32(env, argv[1], &key_size))
		return NULL;
	CHECK(napi_create_array(env, &arr));
	char *prev = calloc(2, key_size ? key_size : 1);
	if (!prev)
		return throw_errno(env, "mapKeys", ENOMEM);
	char *next = prev + key_size;
	const void *cursor = NULL;
	uint32_t n = 0;
	for (;;) {
		if (bpf_map_get_next_key(fd, cursor, next)) {
			int err = errno;
			free(prev);
			if (err == ENOENT)
				return arr;
			return throw_errno(env, "mapKeys", err);
		}
		napi_value b;
		void *copy;
		if (napi_create_buffer_copy(env, key_size, next, &copy, &b) != napi_ok ||
		    napi_set_element(env, arr, n++, b) != napi_ok) {
			free(prev);
			return throw_msg(env, "mapKeys: out of memory");
		}
		memcpy(prev, next, key_size);
		cursor = prev;
	}
}

// ---------------------------------------------------------------------------------------------- tc

static int tc_hook(napi_env env, napi_value *argv, char *netns, char *ifname, struct bpf_tc_hook *hook)
{
	char dir[16];
	if (get_str(env, argv[0], netns, 512) || get_str(env, argv[1], ifname, IF_NAMESIZE) ||
	    get_str(env, argv[2], dir, sizeof(dir)))
		return -1;
	if (strcmp(dir, "ingress") == 0)
		hook->attach_point = BPF_TC_INGRESS;
	else if (strcmp(dir, "egress") == 0)
		hook->attach_point = BPF_TC_EGRESS;
	else {
		napi_throw_type_error(env, NULL, "direction must be \"ingress\" or \"egress\"");
		return -1;
	}
	return 0;
}

// tcAttach(netns, ifname, "ingress"|"egress", progFd, priority, handle): creates the clsact qdisc if needed
// and attaches (replacing) a direct-action filter.
static napi_value tc_attach(napi_env env, napi_callback_info info)
{
	napi_value argv[6];
	char netns[512], ifname[IF_NAMESIZE];
	int32_t prog_fd;
	uint32_t prio, handle;
	LIBBPF_OPTS(bpf_tc_hook, hook);
	if (get_args(env, info, 6, argv) || tc_hook(env, argv, netns, ifname, &hook) ||
	    get_i32(env, argv[3], &prog_fd) || get_u32(env, argv[4], &prio) || get_u32(env, argv[5], &handle))
		return NULL;
	struct netns_guard g;
	int err = netns_enter(netns, &g);
	if (err)
		return throw_errno(env, "tcAttach: enter netns", err);
	hook.ifindex = (int)if_nametoindex(ifname);
	if (!hook.ifindex) {
		err = -errno;
		netns_leave(&g);
		return throw_errno(env, "tcAttach: no such interface", err);
	}
	LIBBPF_OPTS(bpf_tc_hook, qdisc, .ifindex = hook.ifindex, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	err = bpf_tc_hook_create(&qdisc);
	if (err && err != -EEXIST) {
		netns_leave(&g);
		return throw_errno(env, "tcAttach: create clsact qdisc", err);
	}
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .priority = prio, .handle = handle,
		    .flags = BPF_TC_F_REPLACE);
	err = bpf_tc_attach(&hook, &opts);
	netns_leave(&g);
	if (err)
		return throw_errno(env, "tcAttach", err);
	return num(env, opts.prog_id);
}

// tcDetach(netns, ifname, direction, priority, handle) → true when a filter was removed
static napi_value tc_detach(napi_env env, napi_callback_info info)
{
	napi_value argv[5];
	char netns[512], ifname[IF_NAMESIZE];
	uint32_t prio, handle;
	LIBBPF_OPTS(bpf_tc_hook, hook);
	if (get_args(env, info, 5, argv) || tc_hook(env, argv, netns, ifname, &hook) ||
	    get_u32(env, argv[3], &prio) || get_u32(env, argv[4], &handle))
		return NULL;
	struct netns_guard g;
	int err = netns_enter(netns, &g);
	if (err)
		return throw_errno(env, "tcDetach: enter netns", err);
	hook.ifindex = (int)if_nametoindex(ifname);
	if (!hook.ifindex) {
		netns_leave(&g);
		return boolean(env, false); // the interface is gone, and its filters with it
	}
	LIBBPF_OPTS(bpf_tc_opts, opts, .priority = prio, .handle = handle);
	err = bpf_tc_detach(&hook, &opts);
	netns_leave(&g);
	if (err == -ENOENT || err == -EINVAL)
		return boolean(env, false);
	if (err)
		return throw_errno(env, "tcDetach", err);
	return boolean(env, true);
}

// tcQuery(netns, ifname, direction, priority, handle) → the attached program's id, or 0
static napi_value tc_query(napi_env env, napi_callback_info info)
{
	napi_value argv[5];
	char netns[512], ifname[IF_NAMESIZE];
	uint32_t prio, handle;
	LIBBPF_OPTS(bpf_tc_hook, hook);
	if (get_args(env, info, 5, argv) || tc_hook(env, argv, netns, ifname, &hook) ||
	    get_u32(env, argv[3], &prio) || get_u32(env, argv[4], &handle))
		return NULL;
	struct netns_guard g;
	int err = netns_enter(netns, &g);
	if (err)
		return throw_errno(env, "tcQuery: enter netns", err);
	hook.ifindex = (int)if_nametoindex(ifname);
	if (!hook.ifindex) {
		netns_leave(&g);
		return num(env, 0);
	}
	LIBBPF_OPTS(bpf_tc_opts, opts, .priority = prio, .handle = handle);
	err = bpf_tc_query(&hook, &opts);
	netns_leave(&g);
	if (err)
		return num(env, 0);
	return num(env, opts.prog_id);
}

// ifIndex(netns, ifname) → ifindex (0 when missing)
static napi_value if_index(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	char netns[512], ifname[IF_NAMESIZE];
	if (get_args(env, info, 2, argv) || get_str(env, argv[0], netns, sizeof(netns)) ||
	    get_str(env, argv[1], ifname, sizeof(ifname)))
		return NULL;
	struct netns_guard g;
	int err = netns_enter(netns, &g);
	if (err)
		return throw_errno(env, "ifIndex: enter netns", err);
	unsigned idx = if_nametoindex(ifname);
	netns_leave(&g);
	return num(env, idx);
}

// ---------------------------------------------------------------------------------------------- ring buffer

struct reader {
	uv_poll_t poll;
	struct ring_buffer *rb;
	napi_env env;
	napi_ref callback;
	napi_async_context async;
	napi_value batch; // valid only during a consume
	uint32_t batch_len;
	int closing;
};

static int on_sample(void *ctx, void *data, size_t size)
{
	struct reader *r = ctx;
	napi_value b;
	void *copy;
	if (napi_create_buffer_copy(r->env, size, data, &copy, &b) != napi_ok)
		return -1;
	napi_set_element(r->env, r->batch, r->batch_len++, b);
	return 0;
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
	struct reader *r = handle->data;
	(void)events;
	if (status < 0 || r->closing)
		return;
	napi_handle_scope scope;
	napi_open_handle_scope(r->env, &scope);
	napi_create_array(r->env, &r->batch);
	r->batch_len = 0;
	ring_buffer__consume(r->rb);
	if (r->batch_len > 0) {
		napi_value cb, global, result;
		napi_get_reference_value(r->env, r->callback, &cb);
		napi_get_global(r->env, &global);
		// napi_make_callback runs the microtasks queued by the callback, as libuv-driven callbacks must.
		napi_make_callback(r->env, r->async, global, cb, 1, &r->batch, &result);
	}
	napi_close_handle_scope(r->env, scope);
}

static void on_closed(uv_handle_t *handle)
{
	struct reader *r = handle->data;
	ring_buffer__free(r->rb);
	napi_delete_reference(r->env, r->callback);
	napi_async_destroy(r->env, r->async);
	free(r);
}

static void reader_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)data;
	(void)hint;
}

// ringbufOpen(mapFd, callback(Buffer[])) → reader handle (an External); the reader keeps the loop alive
// until ringbufClose.
static napi_value ringbuf_open(napi_env env, napi_callback_info info)
{
	napi_value argv[2], ext, name;
	int32_t fd;
	if (get_args(env, info, 2, argv) || get_i32(env, argv[0], &fd))
		return NULL;
	struct reader *r = calloc(1, sizeof(*r));
	if (!r)
		return throw_errno(env, "ringbufOpen", ENOMEM);
	r->env = env;
	r->rb = ring_buffer__new(fd, on_sample, r, NULL);
	if (!r->rb) {
		int err = errno;
		free(r);
		return throw_errno(env, "ringbufOpen", err);
	}
	uv_loop_t *loop;
	CHECK(napi_get_uv_event_loop(env, &loop));
	CHECK(napi_create_reference(env, argv[1], 1, &r->callback));
	CHECK(napi_create_string_utf8(env, "weft:ringbuf", NAPI_AUTO_LENGTH, &name));
	CHECK(napi_async_init(env, NULL, name, &r->async));
	uv_poll_init(loop, &r->poll, ring_buffer__epoll_fd(r->rb));
	r->poll.data = r;
	uv_poll_start(&r->poll, UV_READABLE, on_readable);
	CHECK(napi_create_external(env, r, reader_finalize, NULL, &ext));
	return ext;
}

static napi_value ringbuf_close(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct reader *r;
	if (get_args(env, info, 1, argv))
		return NULL;
	CHECK(napi_get_value_external(env, argv[0], (void **)&r));
	if (r && !r->closing) {
		// Deliver what is already in the buffer before closing.
		on_readable(&r->poll, 0, UV_READABLE);
		r->closing = 1;
		uv_poll_stop(&r->poll);
		uv_close((uv_handle_t *)&r->poll, on_closed);
	}
	return undefined(env);
}

// monotonicNs() → CLOCK_MONOTONIC in nanoseconds as a BigInt, the clock bpf_ktime_get_ns reads.
static napi_value monotonic_ns(napi_env env, napi_callback_info info)
{
	(void)info;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	napi_value v;
	napi_create_bigint_uint64(env, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec, &v);
	return v;
}

// ---------------------------------------------------------------------------------------------- module

static napi_value init(napi_env env, napi_value exports)
{
	libbpf_set_print(print_fn);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	napi_property_descriptor props[] = {
		{"ensureBpffs", NULL, ensure_bpffs, NULL, NULL, NULL, napi_enumerable, NULL},
		{"openObject", NULL, open_object, NULL, NULL, NULL, napi_enumerable, NULL},
		{"closeObject", NULL, close_object, NULL, NULL, NULL, napi_enumerable, NULL},
		{"programFd", NULL, program_fd, NULL, NULL, NULL, napi_enumerable, NULL},
		{"mapFd", NULL, map_fd, NULL, NULL, NULL, napi_enumerable, NULL},
		{"mapCreate", NULL, map_create, NULL, NULL, NULL, napi_enumerable, NULL},
		{"objPin", NULL, obj_pin, NULL, NULL, NULL, napi_enumerable, NULL},
		{"objGet", NULL, obj_get, NULL, NULL, NULL, napi_enumerable, NULL},
		{"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_enumerable, NULL},
		{"mapLookup", NULL, map_lookup, NULL, NULL, NULL, napi_enumerable, NULL},
		{"mapUpdate", NULL, map_update, NULL, NULL, NULL, napi_enumerable, NULL},
		{"mapDelete", NULL, map_delete, NULL, NULL, NULL, napi_enumerable, NULL},
		{"mapKeys", NULL, map_keys, NULL, NULL, NULL, napi_enumerable, NULL},
		{"cgroupAttach", NULL, cgroup_attach, NULL, NULL, NULL, napi_enumerable, NULL},
		{"cgroupDetach", NULL, cgroup_detach, NULL, NULL, NULL, napi_enumerable, NULL},
		{"tcAttach", NULL, tc_attach, NULL, NULL, NULL, napi_enumerable, NULL},
		{"tcDetach", NULL, tc_detach, NULL, NULL, NULL, napi_enumerable, NULL},
		{"tcQuery", NULL, tc_query, NULL, NULL, NULL, napi_enumerable, NULL},
		{"ifIndex", NULL, if_index, NULL, NULL, NULL, napi_enumerable, NULL},
		{"ringbufOpen", NULL, ringbuf_open, NULL, NULL, NULL, napi_enumerable, NULL},
		{"ringbufClose", NULL, ringbuf_close, NULL, NULL, NULL, napi_enumerable, NULL},
		{"monotonicNs", NULL, monotonic_ns, NULL, NULL, NULL, napi_enumerable, NULL},
	};
	napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
