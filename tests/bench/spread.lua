-- spread.lua - wrk script for the "spread" pass of bench_api.sh: every
-- request names a random repository (and flist) of the make_fixture.py
-- layout (repoNNNN/flistNN.flist), uniformly, so that the API's per-file
-- caches see a working set of REPOS x FLISTS files instead of one.
--
-- usage: wrk ... -s spread.lua http://HOST:PORT -- ROUTE [REPOS] [FLISTS] [SEED]
--   ROUTE   list     GET /api/flist/<repo>
--           light    GET /api/flist/<repo>/<name>/light
--           contents GET /api/flist/<repo>/<name>
--           download GET /<repo>/<name>
--   REPOS, FLISTS  the fixture's size (default 1000, 20)
--   SEED    the random seed (default 42); thread i of wrk uses SEED * 1000 + i,
--           so the same command sends the same sequence of paths per thread.
--
-- Paths are built per request (a few string operations in LuaJIT): that
-- costs wrk a little CPU compared with a fixed URL; bench_api.sh measures how
-- much by running one fixed-URL route through this script ("fixed" ROUTE).
--   fixed    GET /api/flist/repo0500 on every request (the overhead control)

local routes = {
  list     = function(r, f) return string.format("/api/flist/repo%04d", r) end,
  light    = function(r, f) return string.format("/api/flist/repo%04d/flist%02d/light", r, f) end,
  contents = function(r, f) return string.format("/api/flist/repo%04d/flist%02d", r, f) end,
  download = function(r, f) return string.format("/repo%04d/flist%02d.flist", r, f) end,
}

local next_id = 0

-- main state: number the threads so each one gets its own seed
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

local path_of, repos, flists, fixed_req

function init(args)
  local route = args[1] or "list"
  repos = tonumber(args[2] or "1000")
  flists = tonumber(args[3] or "20")
  local seed = tonumber(args[4] or "42")
  if route == "fixed" then
    fixed_req = wrk.format("GET", "/api/flist/repo0500")
    return
  end
  path_of = routes[route]
  if not path_of or not repos or not flists or not seed or repos < 1 or flists < 1 then
    error("spread.lua: usage: -- list|light|contents|download|fixed [REPOS] [FLISTS] [SEED]")
  end
  math.randomseed(seed * 1000 + (thread_id or 0))
end

function request()
  if fixed_req then
    return fixed_req
  end
  return wrk.format("GET", path_of(math.random(0, repos - 1), math.random(0, flists - 1)))
end
