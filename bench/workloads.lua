-- wrk script for bench/workloads.sh. Sends the paths in WRK_PATHS (space-separated) in turn, with
-- the headers a browser sends, and counts the responses whose status is not 2xx: wrk's own
-- "Non-2xx or 3xx responses" counts only 4xx and 5xx. Prints "non-2xx: N (1xx a, 3xx b, 4xx c,
-- 5xx d)" when done, and the status and body of the first such response as "first non-2xx: ...".
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
wrk.headers["Accept"] = "text/html,application/json;q=0.9,*/*;q=0.8"
wrk.headers["Accept-Language"] = "en-GB,en;q=0.7,de;q=0.3"
wrk.headers["Accept-Encoding"] = "identity"
wrk.headers["Cookie"] = "session=4f2a9c1e7b; theme=dark"
wrk.headers["X-Request-Id"] = "bench-0001"

local paths = {}
for path in string.gmatch(os.getenv("WRK_PATHS") or "/", "%S+") do
  paths[#paths + 1] = path
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

-- Per thread (each runs this file in a Lua state of its own).
local requests = {}
local next_request = 0
-- Responses by status class; globals, so that done() can read them from each thread.
n1xx, n3xx, n4xx, n5xx = 0, 0, 0, 0
first_error = nil

function init(args)
  for i, path in ipairs(paths) do
    requests[i] = wrk.format("GET", path)
  end
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

function response(status, headers, body)
  if (status < 200 or status > 299) and not first_error then
    local text = string.gsub(body or "", "%s+", " ")
    first_error = status .. " " .. string.sub(string.match(text, "^ ?(.-) ?$"), 1, 80)
  end
  if status >= 300 then
    if status < 400 then n3xx = n3xx + 1 elseif status < 500 then n4xx = n4xx + 1 else n5xx = n5xx + 1 end
  elseif status < 200 then
    n1xx = n1xx + 1
  end
end

function done(summary, latency, requests)
  local counts = { n1xx = 0, n3xx = 0, n4xx = 0, n5xx = 0 }
  for _, thread in ipairs(threads) do
    for class in pairs(counts) do
      counts[class] = counts[class] + thread:get(class)
    end
  end
  local total = counts.n1xx + counts.n3xx + counts.n4xx + counts.n5xx
  io.write(string.format("non-2xx: %d (1xx %d, 3xx %d, 4xx %d, 5xx %d)\n",
    total, counts.n1xx, counts.n3xx, counts.n4xx, counts.n5xx))
  for _, thread in ipairs(threads) do
    local first = thread:get("first_error")
    if first then
      io.write("first non-2xx: ", first, "\n")
      break
    end
  end
end
