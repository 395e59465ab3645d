-- wrk script: send the requests of a file in turn, one per line:
--   METHOD <TAB> PATH <TAB> Name: value|Name: value <TAB> BODY
-- A header value "{seq}" becomes a value unique to this run (a webhook delivery id).
-- Usage: wrk -s bench/wrk/lines.lua ... http://127.0.0.1:PORT -- FILE
local requests = {}
local dynamic = {}
local next_index = 0
local seq = 0
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1, 1e9))

function init(args)
  for line in io.lines(args[1]) do
    local method, path, header_text, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = {}
    local has_seq = false
    for name, value in header_text:gmatch("([^|:]+): ([^|]*)") do
      headers[name] = value
      if value == "{seq}" then has_seq = true end
    end
    if body == "" then body = nil end
    if has_seq then
      requests[#requests + 1] = false
      dynamic[#requests] = {method, path, headers, body}
    else
      requests[#requests + 1] = wrk.format(method, path, headers, body)
    end
  end
end

function request()
  next_index = next_index % #requests + 1
  local ready = requests[next_index]
  if ready then return ready end
  local spec = dynamic[next_index]
  seq = seq + 1
  local headers = {}
  for name, value in pairs(spec[3]) do
    headers[name] = value == "{seq}" and (prefix .. "-" .. seq) or value
  end
  return wrk.format(spec[1], spec[2], headers, spec[4])
end
