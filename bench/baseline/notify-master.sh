#!/bin/sh
# The ORIGINAL design's notify_master script (baseline for bench/failover.ts): one
# `aws ec2 replace-route` per route table, in order, no retry, no read-back. Credentials come
# from the instance role through IMDS (the CLI's default chain). The route table list was frozen
# when the node was provisioned.
# Usage: notify-master.sh ENI VIP REGION LOGFILE RTB...
ENI=$1; VIP=$2; REGION=$3; LOG=$4; shift 4
export HOME=/tmp AWS_DEFAULT_REGION="$REGION" AWS_PAGER=""
echo "$(date +%s.%N) notify_master start" >>"$LOG"
for rtb in "$@"; do
  /usr/bin/aws ec2 replace-route --route-table-id "$rtb" --destination-cidr-block "$VIP/32" \
    --network-interface-id "$ENI" --endpoint-url http://169.254.169.250 >>"$LOG" 2>&1
  echo "$(date +%s.%N) $rtb exit $?" >>"$LOG"
done
