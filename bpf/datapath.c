// Weft's per-pod datapath: two tc programs for the host side of each pod's veth.
//   from_pod  (tc ingress on the host veth): the pod's egress. Service load balancing (DNAT), egress policy.
//   to_pod    (tc egress on the host veth):  the pod's ingress. Reverse NAT of service replies, ingress policy.
// Connection tracking lets replies of allowed connections pass without a policy lookup; new connections and
// drops are reported as flow events through a ring buffer. The maps' layouts are mirrored in
// src/datapath/layout.ts: change both together.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_ICMPV6_ 58

// Reserved identities (as Cilium numbers them): 0 is the policy wildcard "any peer".
#define ID_ANY 0
#define ID_HOST 1
#define ID_WORLD 2

#define DIR_INGRESS 0 // into the pod
#define DIR_EGRESS 1  // out of the pod
#define CT_SERVICE 2  // pre-NAT tuple of a service connection → chosen backend
#define CT_NODEPORT 3 // post-NAT tuple of a connection that came in through the node's uplink

#define VERDICT_ALLOW 1
#define VERDICT_DENY 2
#define VERDICT_REDIRECT 3

#define REASON_NONE 0
#define REASON_POLICY_DENIED 1 // enforced direction, no rule allows
#define REASON_POLICY_DENY_RULE 2 // an explicit deny rule matched
#define REASON_NO_SERVICE_BACKEND 3
#define REASON_UNKNOWN_SOURCE 4 // a packet from a pod whose address is no registered endpoint
#define REASON_REDIRECT_NO_PROXY 5 // redirect verdict, but the proxy's listening socket is not in the map
#define REASON_ICMP_UNRELATED 6 // an ICMP error about no tracked connection, to an ingress-enforced endpoint

#define EP_F_INGRESS_ENFORCED 1
#define EP_F_EGRESS_ENFORCED 2

#define CT_F_NAT_REPLY 1 // replies get their source rewritten back to nat_addr:nat_port
#define CT_F_CLOSING 2   // FIN or RST seen
#define CT_F_REDIRECT 4  // the connection goes to the proxy
#define CT_F_FROM_PROXY 8 // opened by the proxy with the client's address: replies go back to the proxy
#define CT_F_PROXY_REPLY 16 // replies to the proxy's upstream connection that carries this endpoint's address

#define FLOW_NEW 1
#define FLOW_DROP 2

struct addr {
	__u32 w[4]; // IPv4 in w[0], rest zero; network byte order
};

struct tuple {
	struct addr saddr;
	struct addr daddr;
	__u16 sport; // network byte order
	__u16 dport;
	__u8 proto;
	__u8 family;
	__u8 dir;
	__u8 pad;
};

struct endpoint_key {
	struct addr ip;
	__u8 family;
	__u8 pad[3];
};

struct endpoint_info {
	__u32 identity;
	__u32 ifindex;
	__u32 flags;
	__u32 pad;
};

struct ipcache_key {
	__u32 prefixlen; // 32 (family + pad) + the address prefix length
	__u8 family;
	__u8 pad[3];
	struct addr ip;
};

struct policy_key {
	__u32 endpoint_identity;
	__u32 peer_identity; // 0 = any
	__u16 dport;         // host byte order, 0 = any
	__u8 proto;          // 0 = any
	__u8 dir;
};

struct policy_value {
	__u8 verdict;
	__u8 pad;
	__u16 proxy_port; // host byte order
};

// Transparent mesh entry (src/datapath/mesh-redirect.ts): a connection of a local endpoint of identity
// src_identity to ip:dport goes into the node proxy's mesh listener on proxy_port. Keyed by the destination's
// address, not its identity: pods of one identity may be on this node (kept on their path) and on others.
struct mesh_key {
	struct addr ip;
	__u32 src_identity;
	__u16 dport; // host byte order
	__u8 family;
	__u8 pad;
};

struct service_key {
	struct addr vip;
	__u16 port; // network byte order
	__u8 proto;
	__u8 family;
};

struct service_value {
	__u32 service_id;
	__u32 backend_count;
};

struct backend_key {
	__u32 service_id;
	__u32 slot;
};

struct backend_value {
	struct addr ip;
	__u16 port; // network byte order
	__u8 family;
	__u8 pad;
	__u32 backend_id;
};

struct ct_value {
	__u64 last_seen_ns; // bpf_ktime_get_ns (CLOCK_MONOTONIC)
	__u64 packets;
	__u64 bytes;
	struct addr nat_addr; // CT_F_NAT_REPLY: the service address; CT_SERVICE: the backend
	__u16 nat_port;
	__u16 flags;
	__u32 backend_id;
	__u16 proxy_port; // CT_F_REDIRECT: the proxy's port, host byte order
	__u16 pad;
	__u32 pad2;
};

struct flow_event {
	__u64 ts_ns;
	struct addr saddr;
	struct addr daddr;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 ifindex;
	__u16 sport; // host byte order
	__u16 dport;
	__u8 family;
	__u8 proto;
	__u8 verdict;
	__u8 reason;
	__u8 dir;
	__u8 kind;
	__u16 proxy_port;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct ipcache_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_ipcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, struct policy_key);
	__type(value, struct policy_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, struct mesh_key);
	__type(value, struct policy_value); // verdict VERDICT_REDIRECT and the mesh listener's port
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_mesh SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct service_key);
	__type(value, struct service_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, struct backend_key);
	__type(value, struct backend_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct tuple);
	__type(value, struct ct_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_flows SEC(".maps");

// [0]: the skb mark set on packets for the proxy (the node's policy route delivers them locally).
// [1]: the mark the proxy sets on its upstream connections that carry the client's address.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_config SEC(".maps");

struct packet {
	struct tuple t;
	__u32 l3_off;
	__u32 l4_off;
	__u32 len;
	__u8 tcp_flags;
	__u8 icmp_echo; // ICMP echo request/reply: ports hold the echo id
	__u8 untracked; // ICMP errors, neighbour discovery: passed without policy
	__u8 icmp_error; // destination unreachable, time exceeded, parameter problem (IPv6: packet too big too)
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

// Returns 0 when the packet is IP and parsed, -1 otherwise (passed unchanged).
static __always_inline int parse(struct __sk_buff *skb, struct packet *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u8 proto;

	if ((void *)(eth + 1) > end)
		return -1;
	p->l3_off = sizeof(*eth);
	p->len = skb->len;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end)
			return -1;
		if (ip->ihl < 5)
			return -1;
		p->t.family = AF_INET;
		p->t.saddr.w[0] = ip->saddr;
		p->t.daddr.w[0] = ip->daddr;
		proto = ip->protocol;
		p->l4_off = p->l3_off + ip->ihl * 4;
		if (ip->frag_off & bpf_htons(0x1fff)) // a later fragment has no ports
			proto = 0;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end)
			return -1;
		p->t.family = AF_INET6;
		__builtin_memcpy(&p->t.saddr, &ip6->saddr, 16);
		__builtin_memcpy(&p->t.daddr, &ip6->daddr, 16);
		proto = ip6->nexthdr;
		p->l4_off = p->l3_off + sizeof(*ip6);
	} else {
		return -1;
	}
	p->t.proto = proto;
	if (proto == IPPROTO_TCP_) {
		struct tcphdr *th = data + p->l4_off;
		if ((void *)(th + 1) > end)
			return -1;
		p->t.sport = th->source;
		p->t.dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
	} else if (proto == IPPROTO_UDP_) {
		struct udphdr *uh = data + p->l4_off;
		if ((void *)(uh + 1) > end)
			return -1;
		p->t.sport = uh->source;
		p->t.dport = uh->dest;
	} else if (proto == IPPROTO_ICMP_ || proto == IPPROTO_ICMPV6_) {
		__u8 *ic = data + p->l4_off;
		if ((void *)(ic + 8) > end)
			return -1;
		__u8 type = ic[0];
		int echo = proto == IPPROTO_ICMP_ ? (type == 8 || type == 0) : (type == 128 || type == 129);
		if (echo) {
			__u16 id = *(__u16 *)(ic + 4);
			p->t.sport = id;
			p->t.dport = id;
			p->icmp_echo = 1;
		} else {
			p->untracked = 1;
			p->icmp_error = proto == IPPROTO_ICMP_ ? (type == 3 || type == 11 || type == 12) : (type >= 1 && type <= 4);
		}
	}
	return 0;
}

static __always_inline void reverse(const struct tuple *t, struct tuple *r, __u8 dir)
{
	r->saddr = t->daddr;
	r->daddr = t->saddr;
	r->sport = t->dport;
	r->dport = t->sport;
	r->proto = t->proto;
	r->family = t->family;
	r->dir = dir;
	r->pad = 0;
}

static __always_inline struct endpoint_info *endpoint_of(const struct addr *ip, __u8 family)
{
	struct endpoint_key k = {};
	k.ip = *ip;
	k.family = family;
	return bpf_map_lookup_elem(&weft_endpoints, &k);
}

static __always_inline __u32 identity_of(const struct addr *ip, __u8 family)
{
	struct endpoint_info *ep = endpoint_of(ip, family);
	if (ep)
		return ep->identity;
	struct ipcache_key k = {};
	k.prefixlen = 32 + (family == AF_INET ? 32 : 128);
	k.family = family;
	k.ip = *ip;
	__u32 *id = bpf_map_lookup_elem(&weft_ipcache, &k);
	return id ? *id : ID_WORLD;
}

// Looks up the rules for (endpoint, peer, port, protocol, direction), most specific first; any matching deny
// rule wins (deny precedence, as in Cilium). Without a rule: allow unless the direction is enforced.
static __always_inline struct policy_value policy_verdict(__u32 ep_id, __u32 peer, __u16 dport, __u8 proto, __u8 dir,
							   int enforced, __u8 *reason)
{
	struct policy_value out = {.verdict = VERDICT_ALLOW};
	struct policy_value found = {};
	struct policy_key k = {.endpoint_identity = ep_id, .dir = dir};
	struct policy_value *v;

#pragma unroll
	for (int i = 0; i < 6; i++) {
		k.peer_identity = i < 3 ? peer : ID_ANY;
		k.dport = (i % 3) == 0 ? dport : 0;
		k.proto = (i % 3) == 2 ? 0 : proto;
		v = bpf_map_lookup_elem(&weft_policy, &k);
		if (!v)
			continue;
		if (v->verdict == VERDICT_DENY) {
			*reason = REASON_POLICY_DENY_RULE;
			out.verdict = VERDICT_DENY;
			return out;
		}
		if (!found.verdict)
			found = *v;
	}
	if (found.verdict)
		return found;
	if (enforced) {
		*reason = REASON_POLICY_DENIED;
		out.verdict = VERDICT_DENY;
	}
	return out;
}

static __always_inline void emit(struct __sk_buff *skb, const struct tuple *t, __u32 src_id, __u32 dst_id, __u8 kind,
				 __u8 verdict, __u8 reason, __u8 dir, __u16 proxy_port)
{
	struct flow_event *e = bpf_ringbuf_reserve(&weft_flows, sizeof(*e), 0);
	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->saddr = t->saddr;
	e->daddr = t->daddr;
	e->src_identity = src_id;
	e->dst_identity = dst_id;
	e->ifindex = skb->ifindex;
	e->sport = bpf_ntohs(t->sport);
	e->dport = bpf_ntohs(t->dport);
	e->family = t->family;
	e->proto = t->proto;
	e->verdict = verdict;
	e->reason = reason;
	e->dir = dir;
	e->kind = kind;
	e->proxy_port = proxy_port;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void ct_touch(struct ct_value *ct, struct packet *p)
{
	ct->last_seen_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&ct->packets, 1);
	__sync_fetch_and_add(&ct->bytes, p->len);
	if (p->tcp_flags & (TCP_FIN | TCP_RST))
		ct->flags |= CT_F_CLOSING;
}

// A SYN (without ACK) on the tuple of a connection that saw FIN or RST starts a new connection: it gets a
// fresh policy verdict, backend and NAT state instead of the finished one's.
static __always_inline int ct_reused(struct ct_value *ct, struct packet *p)
{
	return (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN && (ct->flags & CT_F_CLOSING);
}

static __always_inline void ct_create(struct tuple *t, struct packet *p, const struct addr *nat_addr, __u16 nat_port,
				      __u16 flags, __u32 backend_id, __u16 proxy_port)
{
	struct ct_value v = {};
	v.last_seen_ns = bpf_ktime_get_ns();
	v.packets = 1;
	v.bytes = p->len;
	if (nat_addr)
		v.nat_addr = *nat_addr;
	v.nat_port = nat_port;
	v.flags = flags;
	v.backend_id = backend_id;
	v.proxy_port = proxy_port;
	bpf_map_update_elem(&weft_conntrack, t, &v, BPF_ANY);
}

static __always_inline __u32 l4_csum_off(struct packet *p)
{
	if (p->t.proto == IPPROTO_TCP_)
		return p->l4_off + 16;
	if (p->t.proto == IPPROTO_UDP_)
		return p->l4_off + 6;
	return 0;
}

// Rewrites the source (to_src) or destination address and port, fixing the IPv4 and L4 checksums.
static __always_inline int rewrite(struct __sk_buff *skb, struct packet *p, int to_src, const struct addr *ip, __u16 port)
{
	__u32 csum_off = l4_csum_off(p);
	__u64 l4_flags = BPF_F_PSEUDO_HDR | (p->t.proto == IPPROTO_UDP_ ? BPF_F_MARK_MANGLED_0 : 0);
	struct addr *old = to_src ? &p->t.saddr : &p->t.daddr;

	if (p->t.family == AF_INET) {
		__u32 addr_off = p->l3_off + (to_src ? 12 : 16);
		if (csum_off && bpf_l4_csum_replace(skb, csum_off, old->w[0], ip->w[0], l4_flags | 4))
			return -1;
		if (bpf_l3_csum_replace(skb, p->l3_off + 10, old->w[0], ip->w[0], 4))
			return -1;
		if (bpf_skb_store_bytes(skb, addr_off, &ip->w[0], 4, 0))
			return -1;
	} else {
		__u32 addr_off = p->l3_off + (to_src ? 8 : 24);
#pragma unroll
		for (int i = 0; i < 4; i++)
			if (csum_off && bpf_l4_csum_replace(skb, csum_off, old->w[i], ip->w[i], l4_flags | 4))
				return -1;
		if (bpf_skb_store_bytes(skb, addr_off, ip, 16, 0))
			return -1;
	}
	if (csum_off) {
		__u32 port_off = p->l4_off + (to_src ? 0 : 2);
		__u16 old_port = to_src ? p->t.sport : p->t.dport;
		if (bpf_l4_csum_replace(skb, csum_off, old_port, port, 2))
			return -1;
		if (bpf_skb_store_bytes(skb, port_off, &port, 2, 0))
			return -1;
	}
	if (to_src) {
		p->t.saddr = *ip;
		p->t.sport = port;
	} else {
		p->t.daddr = *ip;
		p->t.dport = port;
	}
	return 0;
}

static __always_inline __u32 config_value(__u32 index)
{
	__u32 *v = bpf_map_lookup_elem(&weft_config, &index);
	return v ? *v : 0;
}

static __always_inline __u32 proxy_mark(void)
{
	return config_value(0);
}

// The proxy's upstream connections carry their own mark (Envoy's original_src filter sets it on the socket;
// it must differ from the delivery mark, or the policy route would deliver them locally too).
static __always_inline int from_proxy(struct __sk_buff *skb)
{
	__u32 mark = config_value(1);
	return mark && (skb->mark & mark) == mark;
}

// The node's TCP socket for this packet's tuple with the destination port replaced by dport (a listener on the
// wildcard address matches any destination), or none. The caller releases it.
static __always_inline struct bpf_sock *node_socket(struct __sk_buff *skb, struct packet *p, __be16 dport)
{
	struct bpf_sock_tuple st = {};
	__u32 size;

	if (p->t.family == AF_INET) {
		st.ipv4.saddr = p->t.saddr.w[0];
		st.ipv4.daddr = p->t.daddr.w[0];
		st.ipv4.sport = p->t.sport;
		st.ipv4.dport = dport;
		size = sizeof(st.ipv4);
	} else {
		__builtin_memcpy(st.ipv6.saddr, &p->t.saddr, 16);
		__builtin_memcpy(st.ipv6.daddr, &p->t.daddr, 16);
		st.ipv6.sport = p->t.sport;
		st.ipv6.dport = dport;
		size = sizeof(st.ipv6);
	}
	return bpf_skc_lookup_tcp(skb, &st, size, BPF_F_CURRENT_NETNS, 0);
}

// Hands the packet to the proxy: an established socket for this tuple first (a connection the proxy already
// accepted, or its upstream connection carrying the client's address), else the transparent listener on
// proxy_port (none when proxy_port is 0).
static __always_inline int assign_to_proxy(struct __sk_buff *skb, struct packet *p, __u16 proxy_port)
{
	struct bpf_sock *sk;

	if (p->t.proto != IPPROTO_TCP_)
		return -1;
	sk = node_socket(skb, p, p->t.dport);
	if (sk) {
		if (sk->state != BPF_TCP_LISTEN)
			goto assign;
		bpf_sk_release(sk);
	}
	if (!proxy_port)
		return -1;
	sk = node_socket(skb, p, bpf_htons(proxy_port));
	if (!sk)
		return -1;
	if (sk->state != BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		return -1;
	}
assign:;
	long err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return -1;
	__u32 mark = proxy_mark();
	if (mark)
		skb->mark = mark;
	return 0;
}

// A packet to a local endpoint that belongs to one of the node's own sockets: the pod's address is no address of
// the node, so only the proxy holds such a socket, i.e. its upstream connection that carries the client's
// address (original_src) towards another node or the world, whose replies come back addressed to the client.
static __always_inline int for_proxy_socket(struct __sk_buff *skb, struct packet *p)
{
	if (p->t.proto != IPPROTO_TCP_ || !(p->tcp_flags & TCP_ACK))
		return 0; // a connection's first packet (SYN) is no reply
	struct bpf_sock *sk = node_socket(skb, p, p->t.dport);
	if (!sk)
		return 0;
	int found = sk->state != BPF_TCP_LISTEN;
	bpf_sk_release(sk);
	return found;
}

// A connection to a local endpoint's L7-policed port that reached its veth without the proxy (from another node,
// whose datapath does not know this endpoint's rules): to_pod runs on the veth's egress, where a packet cannot
// be assigned to a socket, so it goes back in on the same veth's ingress (the destination MAC becomes the veth's
// own, which the stack accepts) with the delivery mark, and from_pod assigns it to the proxy there.
static __always_inline int hairpin_to_proxy(struct __sk_buff *skb)
{
	__u8 mac[6];
	__u32 mark = proxy_mark();
	if (!mark || bpf_skb_load_bytes(skb, 6, mac, 6) || bpf_skb_store_bytes(skb, 0, mac, 6, 0))
		return TC_ACT_SHOT;
	skb->mark = mark;
	return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
}

// from_pod's side of the hairpin: a packet from the pod's own namespace never carries a mark (it is cleared
// when the packet leaves the namespace), so the delivery mark here means to_pod sent it back in.
static __always_inline int hairpinned(struct __sk_buff *skb)
{
	__u32 mark = proxy_mark();
	return mark && (skb->mark & mark) == mark;
}

// Service load balancing: a connection to a service address gets a backend once (kept in the CT_SERVICE
// entry, so it survives backend list changes) and is DNATed to it. Returns 1 when the packet was NATed
// (nat_* hold the service address for the reverse NAT), 0 when the destination is no service, -1 to drop.
static __always_inline int load_balance(struct __sk_buff *skb, struct packet *p, struct addr *nat_addr, __u16 *nat_port,
					__u32 *backend_id)
{
	struct service_key sk = {};
	sk.vip = p->t.daddr;
	sk.port = p->t.dport;
	sk.proto = p->t.proto;
	sk.family = p->t.family;
	struct service_value *svc = bpf_map_lookup_elem(&weft_services, &sk);
	if (!svc)
		return 0;

	struct tuple key = p->t;
	key.dir = CT_SERVICE;
	struct addr backend_ip;
	__u16 backend_port;
	struct ct_value *ct = bpf_map_lookup_elem(&weft_conntrack, &key);
	if (ct && ct_reused(ct, p)) {
		bpf_map_delete_elem(&weft_conntrack, &key);
		ct = 0;
	}
	if (ct) {
		ct_touch(ct, p);
		backend_ip = ct->nat_addr;
		backend_port = ct->nat_port;
		*backend_id = ct->backend_id;
	} else {
		if (svc->backend_count == 0)
			return -1;
		struct backend_key bk = {.service_id = svc->service_id,
					 .slot = bpf_get_prandom_u32() % svc->backend_count};
		struct backend_value *be = bpf_map_lookup_elem(&weft_backends, &bk);
		if (!be)
			return -1;
		backend_ip = be->ip;
		backend_port = be->port;
		*backend_id = be->backend_id;
		ct_create(&key, p, &backend_ip, backend_port, 0, be->backend_id, 0);
	}
	*nat_addr = p->t.daddr;
	*nat_port = p->t.dport;
	if (rewrite(skb, p, 0, &backend_ip, backend_port))
		return -1;
	return 1;
}

// Rewrites 4 (IPv4) or 16 (IPv6) address bytes at off, folding the change into the checksum at csum_off
// (pseudo: the address is part of that checksum's pseudo-header rather than of the data it covers).
static __always_inline int rewrite_addr(struct __sk_buff *skb, __u8 family, __u32 off, __u32 csum_off, int pseudo,
					const struct addr *old, const struct addr *new)
{
	__u64 flags = (pseudo ? BPF_F_PSEUDO_HDR : 0) | 4;
	int words = family == AF_INET ? 1 : 4;
#pragma unroll
	for (int i = 0; i < 4; i++)
		if (i < words && bpf_l4_csum_replace(skb, csum_off, old->w[i], new->w[i], flags))
			return -1;
	return bpf_skb_store_bytes(skb, off, new, family == AF_INET ? 4 : 16, 0);
}

// The packet an ICMP error quotes (its first bytes): its tuple, where its IP and L4 headers start, and
// whether it is an echo request (whose "ports" are the echo id). -1 when it cannot be read.
static __always_inline int icmp_quoted(struct __sk_buff *skb, struct packet *p, struct tuple *inner, __u32 *in_l3,
				       __u32 *in_l4, int *echo)
{
	__u8 hdr[40];
	*in_l3 = (p->l4_off & 0xff) + 8;
	inner->family = p->t.family;
	if (p->t.family == AF_INET) {
		if (bpf_skb_load_bytes(skb, *in_l3, hdr, 20))
			return -1;
		struct iphdr *ip = (void *)hdr;
		inner->saddr.w[0] = ip->saddr;
		inner->daddr.w[0] = ip->daddr;
		inner->proto = ip->protocol;
		*in_l4 = *in_l3 + (ip->ihl & 0xf) * 4;
	} else {
		if (bpf_skb_load_bytes(skb, *in_l3, hdr, 40))
			return -1;
		struct ipv6hdr *ip6 = (void *)hdr;
		__builtin_memcpy(&inner->saddr, &ip6->saddr, 16);
		__builtin_memcpy(&inner->daddr, &ip6->daddr, 16);
		inner->proto = ip6->nexthdr;
		*in_l4 = *in_l3 + 40;
	}
	__u8 l4[8];
	if (bpf_skb_load_bytes(skb, *in_l4, l4, 8))
		return -1;
	*echo = 0;
	if (inner->proto == IPPROTO_TCP_ || inner->proto == IPPROTO_UDP_) {
		inner->sport = *(__u16 *)&l4[0];
		inner->dport = *(__u16 *)&l4[2];
	} else if ((inner->proto == IPPROTO_ICMP_ && l4[0] == 8) || (inner->proto == IPPROTO_ICMPV6_ && l4[0] == 128)) {
		inner->sport = *(__u16 *)&l4[4];
		inner->dport = inner->sport;
		*echo = 1;
	}
	return 0;
}

// Translates an ICMP error's quoted packet: its source (quoted_src) or destination address and port become
// to/to_port, and so does the error's own destination (quoted_src: the error goes back to where the quoted
// packet came from) or source (the error came from where the quoted packet went) when it equals the old
// address. Checksums: the quoted IPv4 header's, and the ICMP one (ICMPv6: with its pseudo-header).
static __always_inline int icmp_quote_nat(struct __sk_buff *skb, struct packet *p, __u32 in_l3, __u32 in_l4, int quoted_src,
					  const struct addr *from, __u16 from_port, const struct addr *to, __u16 to_port)
{
	__u32 icmp_csum = (p->l4_off & 0xff) + 2;
	int v6 = p->t.family == AF_INET6;
	if (!v6) {
		__u16 old_sum, new_sum;
		if (bpf_skb_load_bytes(skb, in_l3 + 10, &old_sum, 2) ||
		    bpf_l3_csum_replace(skb, in_l3 + 10, from->w[0], to->w[0], 4) ||
		    bpf_skb_load_bytes(skb, in_l3 + 10, &new_sum, 2) ||
		    bpf_l4_csum_replace(skb, icmp_csum, old_sum, new_sum, 2))
			return -1;
	}
	__u32 quoted_addr = in_l3 + (v6 ? (quoted_src ? 8 : 24) : (quoted_src ? 12 : 16));
	if (rewrite_addr(skb, p->t.family, quoted_addr, icmp_csum, 0, from, to))
		return -1;
	if (bpf_l4_csum_replace(skb, icmp_csum, from_port, to_port, 2) ||
	    bpf_skb_store_bytes(skb, in_l4 + (quoted_src ? 0 : 2), &to_port, 2, 0))
		return -1;
	const struct addr *outer = quoted_src ? &p->t.daddr : &p->t.saddr;
	if (outer->w[0] != from->w[0] || outer->w[1] != from->w[1] || outer->w[2] != from->w[2] || outer->w[3] != from->w[3])
		return 0;
	__u32 outer_off = p->l3_off + (v6 ? (quoted_src ? 24 : 8) : (quoted_src ? 16 : 12));
	if (!v6)
		return bpf_l3_csum_replace(skb, p->l3_off + 10, from->w[0], to->w[0], 4) ||
		       bpf_skb_store_bytes(skb, outer_off, &to->w[0], 4, 0);
	return rewrite_addr(skb, AF_INET6, outer_off, icmp_csum, 1, from, to);
}

// An ICMP error delivered to a pod passes when it is about a tracked connection (one the pod opened, or one
// it accepted), as Cilium's "related" traffic. For a connection the pod opened to a service address, the
// quoted packet went to the backend: it is translated back to the service address (and so is the error's
// source when the backend itself sent it), so the pod's socket recognises its own packet. Unrelated errors
// are dropped where the pod's ingress is enforced.
static __always_inline int icmp_error_to_pod(struct __sk_buff *skb, struct packet *p)
{
	struct tuple inner = {};
	__u32 in_l3, in_l4;
	int echo;
	if (icmp_quoted(skb, p, &inner, &in_l3, &in_l4, &echo))
		return TC_ACT_OK;
	struct tuple key = inner;
	key.dir = DIR_EGRESS;
	struct ct_value *ct = bpf_map_lookup_elem(&weft_conntrack, &key);
	if (!ct) {
		reverse(&inner, &key, DIR_INGRESS);
		ct = bpf_map_lookup_elem(&weft_conntrack, &key);
		if (ct)
			return TC_ACT_OK;
		struct endpoint_info *dst = endpoint_of(&p->t.daddr, p->t.family);
		if (dst && (dst->flags & EP_F_INGRESS_ENFORCED)) {
			emit(skb, &p->t, identity_of(&p->t.saddr, p->t.family), dst->identity, FLOW_DROP, VERDICT_DENY,
			     REASON_ICMP_UNRELATED, DIR_INGRESS, 0);
			return TC_ACT_SHOT;
		}
		return TC_ACT_OK;
	}
	if (!(ct->flags & CT_F_NAT_REPLY) || echo)
		return TC_ACT_OK;
	struct addr vip = ct->nat_addr;
	if (icmp_quote_nat(skb, p, in_l3, in_l4, 0, &inner.daddr, inner.dport, &vip, ct->nat_port))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

// An ICMP error a pod sends about a reply it got from a service address (e.g. port unreachable because its
// socket is gone): the reply really came from the backend, so the quoted source and the error's
// destination become the backend (from the service connection's CT_SERVICE entry), or the error is lost.
static __always_inline int icmp_error_from_pod(struct __sk_buff *skb, struct packet *p)
{
	struct tuple inner = {};
	__u32 in_l3, in_l4;
	int echo;
	if (icmp_quoted(skb, p, &inner, &in_l3, &in_l4, &echo) || echo)
		return TC_ACT_OK;
	struct tuple key;
	reverse(&inner, &key, CT_SERVICE);
	struct ct_value *ct = bpf_map_lookup_elem(&weft_conntrack, &key);
	if (!ct)
		return TC_ACT_OK;
	struct addr backend = ct->nat_addr;
	if (icmp_quote_nat(skb, p, in_l3, in_l4, 1, &inner.saddr, inner.sport, &backend, ct->nat_port))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	struct packet p = {};
	struct tuple key;
	struct ct_value *ct;
	struct addr nat_addr = {};
	__u16 nat_port = 0;
	__u32 backend_id = 0;
	__u8 reason = REASON_NONE;

	if (parse(skb, &p))
		return TC_ACT_OK;
	if (hairpinned(skb)) {
		key = p.t;
		key.dir = DIR_INGRESS;
		ct = bpf_map_lookup_elem(&weft_conntrack, &key);
		__u16 port = ct && (ct->flags & CT_F_REDIRECT) ? ct->proxy_port : 0;
		int reply = ct && (ct->flags & CT_F_PROXY_REPLY);
		if ((!port && !reply) || assign_to_proxy(skb, &p, port)) {
			emit(skb, &p.t, 0, 0, FLOW_DROP, VERDICT_DENY, REASON_REDIRECT_NO_PROXY, DIR_INGRESS, port);
			return TC_ACT_SHOT;
		}
		return TC_ACT_OK;
	}
	if (p.untracked)
		return p.icmp_error ? icmp_error_from_pod(skb, &p) : TC_ACT_OK;

	int nat = load_balance(skb, &p, &nat_addr, &nat_port, &backend_id);
	if (nat < 0) {
		emit(skb, &p.t, identity_of(&p.t.saddr, p.t.family), 0, FLOW_DROP, VERDICT_DENY,
		     REASON_NO_SERVICE_BACKEND, DIR_EGRESS, 0);
		return TC_ACT_SHOT;
	}

	key = p.t;
	key.dir = DIR_EGRESS;
	ct = bpf_map_lookup_elem(&weft_conntrack, &key);
	if (ct && ct_reused(ct, &p)) {
		bpf_map_delete_elem(&weft_conntrack, &key);
		ct = 0;
	}
	if (ct) {
		ct_touch(ct, &p);
		// Two services can share backend and client port: the tuple after NAT is the same, so the reply
		// translation follows the service this packet was sent to.
		if (nat) {
			ct->nat_addr = nat_addr;
			ct->nat_port = nat_port;
			ct->flags |= CT_F_NAT_REPLY;
		} else if (ct->flags & CT_F_NAT_REPLY) {
			ct->flags &= ~CT_F_NAT_REPLY;
		}
		goto forward;
	}
	reverse(&p.t, &key, DIR_INGRESS);
	ct = bpf_map_lookup_elem(&weft_conntrack, &key);
	if (ct) {
		ct_touch(ct, &p);
		// A reply to the proxy's connection that carries the client's address: routed to the client it
		// would miss the proxy; the mark makes the node's policy route deliver it locally instead.
		if (ct->flags & CT_F_FROM_PROXY)
			skb->mark = proxy_mark();
		return TC_ACT_OK;
	}

	struct endpoint_info *src = endpoint_of(&p.t.saddr, p.t.family);
	__u32 dst_id = identity_of(&p.t.daddr, p.t.family);
	if (!src) {
		emit(skb, &p.t, ID_WORLD, dst_id, FLOW_DROP, VERDICT_DENY, REASON_UNKNOWN_SOURCE, DIR_EGRESS, 0);
		return TC_ACT_SHOT;
	}
	__u32 src_id = src->identity;
	struct policy_value egress = policy_verdict(src_id, dst_id, p.icmp_echo ? 0 : bpf_ntohs(p.t.dport), p.t.proto,
						    DIR_EGRESS, src->flags & EP_F_EGRESS_ENFORCED, &reason);
	if (egress.verdict == VERDICT_DENY) {
		emit(skb, &p.t, src_id, dst_id, FLOW_DROP, VERDICT_DENY, reason, DIR_EGRESS, 0);
		return TC_ACT_SHOT;
	}
	// The destination pod's ingress rules decide redirection into the proxy: the packet has to be assigned
	// to the proxy's socket here, where it enters the node's stack.
	__u16 flags = nat ? CT_F_NAT_REPLY : 0;
	__u16 proxy_port = 0;
	struct endpoint_info *dst = endpoint_of(&p.t.daddr, p.t.family);
	if (dst && p.t.proto == IPPROTO_TCP_) {
		__u8 ingress_reason = REASON_NONE;
		struct policy_value ingress = policy_verdict(dst->identity, src_id, bpf_ntohs(p.t.dport), p.t.proto,
							     DIR_INGRESS, 0, &ingress_reason);
		if (ingress.verdict == VERDICT_REDIRECT) {
			flags |= CT_F_REDIRECT;
			proxy_port = ingress.proxy_port;
		}
	}
	if (egress.verdict == VERDICT_REDIRECT) {
		flags |= CT_F_REDIRECT;
		proxy_port = egress.proxy_port;
	} else if (p.t.proto == IPPROTO_TCP_) {
		// The mesh: this destination address and port is to be reached over mutual TLS by this source (the
		// agent checked the destination's ingress policy); the source's own egress L7 rules keep precedence.
		struct mesh_key mk = {.ip = p.t.daddr, .src_identity = src_id, .dport = bpf_ntohs(p.t.dport), .family = p.t.family};
		struct policy_value *mesh = bpf_map_lookup_elem(&weft_mesh, &mk);
		if (mesh && mesh->verdict == VERDICT_REDIRECT) {
			flags |= CT_F_REDIRECT;
			proxy_port = mesh->proxy_port;
		}
	}
	key = p.t;
	key.dir = DIR_EGRESS;
	ct_create(&key, &p, nat ? &nat_addr : 0, nat_port, flags, backend_id, proxy_port);
	emit(skb, &p.t, src_id, dst_id, FLOW_NEW, flags & CT_F_REDIRECT ? VERDICT_REDIRECT : VERDICT_ALLOW, REASON_NONE,
	     DIR_EGRESS, proxy_port);
	ct = bpf_map_lookup_elem(&weft_conntrack, &key);
	if (!ct)
		return TC_ACT_OK;
forward:
	if (ct->flags & CT_F_REDIRECT) {
		if (assign_to_proxy(skb, &p, ct->proxy_port)) {
			emit(skb, &p.t, 0, 0, FLOW_DROP, VERDICT_DENY, REASON_REDIRECT_NO_PROXY, DIR_EGRESS, ct->proxy_port);
			return TC_ACT_SHOT;
		}
	}
	return TC_ACT_OK;
}

SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	struct packet p = {};
	struct tuple key;
	struct ct_value *ct;
	__u8 reason = REASON_NONE;

	if (parse(skb, &p))
		return TC_ACT_OK;
	if (p.untracked)
		return p.icmp_error ? icmp_error_to_pod(skb, &p) : TC_ACT_OK;

	key = p.t;
	key.dir = DIR_INGRESS;
	ct = bpf_map_lookup_elem(&weft_conntrack, &key);
	if (ct && ct_reused(ct, &p)) {
		bpf_map_delete_elem(&weft_conntrack, &key);
		ct = 0;
	}
	if (ct) {
		ct_touch(ct, &p);
		return ct->flags & (CT_F_REDIRECT | CT_F_PROXY_REPLY) ? hairpin_to_proxy(skb) : TC_ACT_OK;
	}
	reverse(&p.t, &key, DIR_EGRESS);
	ct = bpf_map_lookup_elem(&weft_conntrack, &key);
	if (ct) {
		ct_touch(ct, &p);
		if (ct->flags & CT_F_NAT_REPLY) {
			struct addr vip = ct->nat_addr;
			if (rewrite(skb, &p, 1, &vip, ct->nat_port))
				return TC_ACT_SHOT;
		}
		return TC_ACT_OK;
	}
	// A reply to the proxy's upstream connection from another node (one to a pod on this node gets the delivery
	// mark in that pod's from_pod): it would reach the client instead of the proxy, so it goes back in like a
	// redirected connection and from_pod assigns it to the proxy's socket. Conntrack keeps the decision.
	if (for_proxy_socket(skb, &p)) {
		key = p.t;
		key.dir = DIR_INGRESS;
		ct_create(&key, &p, 0, 0, CT_F_PROXY_REPLY, 0, 0);
		return hairpin_to_proxy(skb);
	}

	struct endpoint_info *dst = endpoint_of(&p.t.daddr, p.t.family);
	if (!dst)
		return TC_ACT_OK; // not addressed to an endpoint (e.g. broadcast): no policy applies
	__u32 src_id = identity_of(&p.t.saddr, p.t.family);
	// The node itself (its agent, health checks, the node proxy forwarding redirected connections) always
	// reaches local endpoints, as with Cilium's default allow-localhost.
	if (src_id == ID_HOST) {
		key = p.t;
		key.dir = DIR_INGRESS;
		ct_create(&key, &p, 0, 0, 0, 0, 0);
		return TC_ACT_OK;
	}
	struct policy_value ingress = policy_verdict(dst->identity, src_id, p.icmp_echo ? 0 : bpf_ntohs(p.t.dport),
						     p.t.proto, DIR_INGRESS, dst->flags & EP_F_INGRESS_ENFORCED, &reason);
	if (ingress.verdict == VERDICT_DENY) {
		emit(skb, &p.t, src_id, dst->identity, FLOW_DROP, VERDICT_DENY, reason, DIR_INGRESS, 0);
		return TC_ACT_SHOT;
	}
	// The node proxy's own upstream connections (its mark) have been through it; any other connection to an
	// L7-policed port goes into this node's proxy, whichever node it came from (one redirected into the proxy
	// of the client's node for the client's egress rules meets this endpoint's ingress rules here).
	int proxied = from_proxy(skb);
	int redirect = ingress.verdict == VERDICT_REDIRECT && !proxied && p.t.proto == IPPROTO_TCP_;
	key = p.t;
	key.dir = DIR_INGRESS;
	ct_create(&key, &p, 0, 0, proxied ? CT_F_FROM_PROXY : redirect ? CT_F_REDIRECT : 0, 0,
		  redirect ? ingress.proxy_port : 0);
	emit(skb, &p.t, src_id, dst->identity, FLOW_NEW, ingress.verdict, REASON_NONE, DIR_INGRESS, ingress.proxy_port);
	return redirect ? hairpin_to_proxy(skb) : TC_ACT_OK;
}

// NodePort: the node's uplink. from_netdev (tc ingress) load-balances connections to a service on a node
// address; to_netdev (tc egress) translates the replies back to that address. Other traffic passes.
SEC("tc")
int from_netdev(struct __sk_buff *skb)
{
	struct packet p = {};
	struct addr nat_addr = {};
	__u16 nat_port = 0;
	__u32 backend_id = 0;

	if (parse(skb, &p) || p.untracked)
		return TC_ACT_OK;
	int nat = load_balance(skb, &p, &nat_addr, &nat_port, &backend_id);
	if (nat < 0) {
		emit(skb, &p.t, ID_WORLD, ID_HOST, FLOW_DROP, VERDICT_DENY, REASON_NO_SERVICE_BACKEND, DIR_INGRESS, 0);
		return TC_ACT_SHOT;
	}
	if (nat == 0)
		return TC_ACT_OK;
	struct tuple key = p.t;
	key.dir = CT_NODEPORT;
	struct ct_value *ct = bpf_map_lookup_elem(&weft_conntrack, &key);
	if (ct && !ct_reused(ct, &p)) {
		ct_touch(ct, &p);
		ct->nat_addr = nat_addr;
		ct->nat_port = nat_port;
		return TC_ACT_OK;
	}
	ct_create(&key, &p, &nat_addr, nat_port, CT_F_NAT_REPLY, backend_id, 0);
	emit(skb, &p.t, ID_WORLD, identity_of(&p.t.daddr, p.t.family), FLOW_NEW, VERDICT_ALLOW, REASON_NONE, DIR_INGRESS, 0);
	return TC_ACT_OK;
}

SEC("tc")
int to_netdev(struct __sk_buff *skb)
{
	struct packet p = {};
	struct tuple key;

	if (parse(skb, &p) || p.untracked)
		return TC_ACT_OK;
	reverse(&p.t, &key, CT_NODEPORT);
	struct ct_value *ct = bpf_map_lookup_elem(&weft_conntrack, &key);
	if (!ct || !(ct->flags & CT_F_NAT_REPLY))
		return TC_ACT_OK;
	ct_touch(ct, &p);
	struct addr node = ct->nat_addr;
	if (rewrite(skb, &p, 1, &node, ct->nat_port))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

// ------------------------------------------------------------------------------------ socket-level LB
// For processes in a cgroup these programs are attached to (pods' processes), a connection to a service
// address gets its backend when the socket connects (UDP: on each sendmsg, sticky per socket), as Cilium's
// bpf_sock does: the socket's peer is then the backend itself, so no packet needs NAT and the client's TCP
// state (port choice, timestamp offset) is per backend. getpeername and recvmsg report the service address.
// Everything else (processes outside the cgroup, the node's uplink) keeps the tc path above.

struct sock_key {
	__u64 cookie; // bpf_get_socket_cookie
	struct addr addr;
	__u16 port; // network byte order
	__u8 family;
	__u8 pad[5];
};

struct sock_nat {
	struct addr addr;
	__u16 port; // network byte order
	__u8 family;
	__u8 pad;
	__u32 backend_id;
	__u32 slot;
};

// (socket, backend) → the service address it was chosen for: getpeername and recvmsg translate back.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct sock_key);
	__type(value, struct sock_nat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_sock_revnat SEC(".maps");

// (socket, service) → the backend chosen for it: unconnected UDP sockets keep their backend across sends
// while it stays in the service's backend list.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct sock_key);
	__type(value, struct sock_nat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} weft_sock_affinity SEC(".maps");

static __always_inline void sock_read_addr(struct bpf_sock_addr *ctx, int family, struct addr *a)
{
	if (family == AF_INET) {
		a->w[0] = ctx->user_ip4;
	} else {
		a->w[0] = ctx->user_ip6[0];
		a->w[1] = ctx->user_ip6[1];
		a->w[2] = ctx->user_ip6[2];
		a->w[3] = ctx->user_ip6[3];
	}
}

static __always_inline void sock_write_addr(struct bpf_sock_addr *ctx, int family, const struct addr *a, __u16 port)
{
	if (family == AF_INET) {
		ctx->user_ip4 = a->w[0];
	} else {
		ctx->user_ip6[0] = a->w[0];
		ctx->user_ip6[1] = a->w[1];
		ctx->user_ip6[2] = a->w[2];
		ctx->user_ip6[3] = a->w[3];
	}
	ctx->user_port = port;
}

// Chooses the backend of the service the socket addresses (if it is one) and rewrites the destination.
static __always_inline void sock_translate(struct bpf_sock_addr *ctx, int family, int sticky)
{
	if (ctx->protocol != IPPROTO_TCP_ && ctx->protocol != IPPROTO_UDP_)
		return;
	struct service_key sk = {};
	sock_read_addr(ctx, family, &sk.vip);
	sk.port = (__u16)ctx->user_port;
	sk.proto = ctx->protocol;
	sk.family = family;
	struct service_value *svc = bpf_map_lookup_elem(&weft_services, &sk);
	if (!svc || svc->backend_count == 0)
		return; // no backend: the tc path drops it and reports no-service-backend
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct sock_key ak = {.cookie = cookie, .addr = sk.vip, .port = sk.port, .family = family};
	struct sock_nat chosen = {};
	struct sock_nat *prev = sticky ? bpf_map_lookup_elem(&weft_sock_affinity, &ak) : 0;
	if (prev && prev->slot < svc->backend_count) {
		struct backend_key bk = {.service_id = svc->service_id, .slot = prev->slot};
		struct backend_value *be = bpf_map_lookup_elem(&weft_backends, &bk);
		if (be && be->backend_id == prev->backend_id)
			chosen = *prev;
	}
	if (!chosen.family) {
		__u32 slot = bpf_get_prandom_u32() % svc->backend_count;
		struct backend_key bk = {.service_id = svc->service_id, .slot = slot};
		struct backend_value *be = bpf_map_lookup_elem(&weft_backends, &bk);
		if (!be || be->family != family)
			return;
		chosen.addr = be->ip;
		chosen.port = be->port;
		chosen.family = family;
		chosen.backend_id = be->backend_id;
		chosen.slot = slot;
		if (sticky)
			bpf_map_update_elem(&weft_sock_affinity, &ak, &chosen, BPF_ANY);
	}
	struct sock_key rk = {.cookie = cookie, .addr = chosen.addr, .port = chosen.port, .family = family};
	struct sock_nat service = {.addr = sk.vip, .port = sk.port, .family = family};
	bpf_map_update_elem(&weft_sock_revnat, &rk, &service, BPF_ANY);
	sock_write_addr(ctx, family, &chosen.addr, chosen.port);
}

// A peer address that is a backend chosen for this socket is reported as the service address.
static __always_inline void sock_reverse(struct bpf_sock_addr *ctx, int family)
{
	struct sock_key rk = {.cookie = bpf_get_socket_cookie(ctx), .port = (__u16)ctx->user_port, .family = family};
	sock_read_addr(ctx, family, &rk.addr);
	struct sock_nat *service = bpf_map_lookup_elem(&weft_sock_revnat, &rk);
	if (service)
		sock_write_addr(ctx, family, &service->addr, service->port);
}

SEC("cgroup/connect4")
int sock_connect4(struct bpf_sock_addr *ctx)
{
	sock_translate(ctx, AF_INET, 0);
	return 1;
}

SEC("cgroup/connect6")
int sock_connect6(struct bpf_sock_addr *ctx)
{
	sock_translate(ctx, AF_INET6, 0);
	return 1;
}

SEC("cgroup/sendmsg4")
int sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	sock_translate(ctx, AF_INET, 1);
	return 1;
}

SEC("cgroup/sendmsg6")
int sock_sendmsg6(struct bpf_sock_addr *ctx)
{
	sock_translate(ctx, AF_INET6, 1);
	return 1;
}

SEC("cgroup/recvmsg4")
int sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	sock_reverse(ctx, AF_INET);
	return 1;
}

SEC("cgroup/recvmsg6")
int sock_recvmsg6(struct bpf_sock_addr *ctx)
{
	sock_reverse(ctx, AF_INET6);
	return 1;
}

SEC("cgroup/getpeername4")
int sock_getpeername4(struct bpf_sock_addr *ctx)
{
	sock_reverse(ctx, AF_INET);
	return 1;
}

SEC("cgroup/getpeername6")
int sock_getpeername6(struct bpf_sock_addr *ctx)
{
	sock_reverse(ctx, AF_INET6);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
