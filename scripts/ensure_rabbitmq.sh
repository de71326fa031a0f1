#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers at 127.0.0.1:5672, starting the local one if needed.
# Used by `make test` and `make run`; exits non-zero with what to do when it cannot.
set -euo pipefail

host=127.0.0.1
port=${LVMBEAT_RABBITMQ_PORT:-5672}

answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

if answers; then
  exit 0
fi

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "RabbitMQ does not answer at $host:$port and rabbitmq-server is not installed." >&2
  echo "Install it (Debian: apt-get install rabbitmq-server) or start a broker there," >&2
  echo "then run this command again." >&2
  exit 1
fi

echo "RabbitMQ is down at $host:$port; starting it with 'rabbitmq-server -detached'."
rabbitmq-server -detached
# Wait for the broker itself (not just the Erlang VM) to accept AMQP connections.
for _ in $(seq 1 120); do
  if answers; then
    echo "RabbitMQ answers at $host:$port."
    exit 0
  fi
  sleep 0.5
done
echo "RabbitMQ was started but does not answer at $host:$port after 60 s." >&2
echo "Look at its log (/var/log/rabbitmq/) for the cause." >&2
exit 1
