-- get.lua - GET the URL given to wrk (e.g. /v1/health) with the shared
-- JSON report; no request body.
local src = debug.getinfo(1, "S").source
dofile((src:match("^@(.*/)") or "./") .. "report.lua")
wrk.method = "GET"
