#!/bin/sh
# tests/mpi/netns_two_ranks.sh WORKDIR COMMAND [ARGS...] - runs COMMAND
# (e.g. `fxrun train GRAPH.yaml`) as 2 MPI ranks in two network namespaces
# joined by a veth pair, so the ranks talk over TCP as two hosts would.
# Only addresses inside those namespaces are used (10.231.x.1/30 and .2 on
# the veth, made up here); no other network is touched. mpirun runs in
# namespace A (rank 0) and starts rank 1's daemon in namespace B through
# an rsh agent (`ip netns exec`), the way it would use ssh on a cluster.
# Exit 77: namespaces cannot be made here (the reason on stderr).
# Everything made is removed on exit. Used by tests/test_mpi.c and
# bench/allreduce.sh.
set -u
work=$1; shift
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; then
    echo "network namespaces need root and iproute2's ip" >&2; exit 77
fi
id=$$
a=fxmpi${id}a; b=fxmpi${id}b; va=fxva$id; vb=fxvb$id
net=$(( id % 250 + 1 ))
ip_a=10.231.$net.1; ip_b=10.231.$net.2
cleanup() { ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null; }
trap cleanup EXIT INT TERM
if ! ip netns add "$a" 2>"$work/netns.err" || ! ip netns add "$b" 2>>"$work/netns.err" ||
   ! ip link add "$va" netns "$a" type veth peer name "$vb" netns "$b" 2>>"$work/netns.err"; then
    echo "cannot make network namespaces here: $(cat "$work/netns.err")" >&2; exit 77
fi
ip -n "$a" addr add "$ip_a/30" dev "$va" && ip -n "$b" addr add "$ip_b/30" dev "$vb" &&
ip -n "$a" link set "$va" up && ip -n "$b" link set "$vb" up &&
ip -n "$a" link set lo up && ip -n "$b" link set lo up || { echo "cannot configure the veth pair" >&2; exit 1; }
agent=$work/netns-agent.sh
cat > "$agent" <<AGENT
#!/bin/sh
# rsh agent for mpirun: "HOST COMMAND..." runs COMMAND in HOST's namespace.
host=\$1; shift
if [ "\$host" = "$ip_b" ]; then ns=$b; else ns=$a; fi
exec ip netns exec \$ns sh -c "\$*"
AGENT
chmod +x "$agent"
# TCP only (no shared memory between the "hosts"), on the veth's subnet.
timeout 120 ip netns exec "$a" nice mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 \
    --host "$ip_a:1,$ip_b:1" --mca plm_rsh_agent "$agent" \
    --mca oob_tcp_if_include "10.231.$net.0/30" --mca btl_tcp_if_include "10.231.$net.0/30" --mca btl tcp,self \
    sh -c 'echo "rank $OMPI_COMM_WORLD_RANK in $(ip -br -4 addr show | grep -v "^lo" | tr -s " " | cut -d" " -f3)" >&2; exec "$@"' \
    sh "$@"
