-- forward_npy.lua - POST a .npy forward body (Content-Type and Accept
-- application/x-npy: the inputs and the outputs travel as .npy, no JSON) to
-- the URL given to wrk. BODY_FILE names the .npy file of the inputs
-- (bench/http_bench.py writes the seed MLP's 1 x 20 float32 batch; numpy:
-- np.save(f, np.arange(20, dtype=np.float32).reshape(1, 20) / 10)).
local src = debug.getinfo(1, "S").source
local R = dofile((src:match("^@(.*/)") or "./") .. "report.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-npy"
wrk.headers["Accept"] = "application/x-npy"
local file = os.getenv("BODY_FILE")
assert(file and file ~= "", "forward_npy.lua needs BODY_FILE (a .npy file)")
wrk.body = R.slurp(file)
