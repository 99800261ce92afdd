#!/usr/bin/env bash
# qperf_table.sh - turns qperf -v output (tcp_lat/tcp_bw blocks) into
# "test size value" lines: latency in microseconds, bandwidth in MB/s.
awk '
/^tcp_lat:/ { t = "lat"; next }
/^tcp_bw:/  { t = "bw"; next }
/latency *=/ {
	v = $3; u = $4
	if (u == "ms") v *= 1000; else if (u == "ns") v /= 1000; else if (u == "sec") v *= 1e6
	val = v; next
}
/bw *=/ {
	v = $3; u = $4
	if (u == "KB/sec") v /= 1000; else if (u == "GB/sec") v *= 1000; else if (u == "bytes/sec") v /= 1e6
	val = v; next
}
/msg_size *=/ {
	s = $3; u = $4
	if (u == "KiB" || u == "KB") s *= 1024
	printf "%s %d %s\n", t, s, val
}'
