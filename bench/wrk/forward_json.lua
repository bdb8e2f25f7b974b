-- forward_json.lua - POST a JSON forward body to the URL given to wrk
-- (e.g. http://127.0.0.1:8080/v1/models/mlp/forward). The body is the
-- file named by BODY_FILE, or else the seed MLP's batch-1 input (1 x 20,
-- the README's example numbers) in blockd's wire form {"inputs": [[...]]}.
local src = debug.getinfo(1, "S").source
local R = dofile((src:match("^@(.*/)") or "./") .. "report.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = os.getenv("BODY_FILE")
if file and file ~= "" then
  wrk.body = R.slurp(file)
else
  wrk.body = '{"inputs":[[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1,' ..
             '-0.1,-0.2,-0.3,-0.4,-0.5,-0.6,-0.7,-0.8,-0.9,-1]]}'
end
