-- wrk script: every request PUTs a new key, /k<thread>-<n>, with a 64-byte value; at the end it
-- prints each thread's last key, so the bench script can wait until the cluster applied it.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

counter = 0
local value = string.rep("v", 64)

function request()
  counter = counter + 1
  return wrk.format("PUT", "/k" .. id .. "-" .. counter, nil, value)
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("last-key /k%d-%d\n", t:get("id"), t:get("counter")))
  end
  io.write(string.format("answered %d non2xx %d errors %d\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("latency-us p50 %d p99 %d\n", latency:percentile(50), latency:percentile(99)))
end
