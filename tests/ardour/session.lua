-- Drives headless Ardour 7 (`ardour7-lua session.lua`) for tests/ardour.rs. Two runs:
--
--   CONTINUO_ARDOUR_PHASE=create: a new session (48 kHz, the dummy backend, 1024-sample blocks,
--     120 BPM) with a MIDI track "Continuo" holding [Continuo Test Player] -> [Continuo (VST3)]
--     -> [Continuo Test Logger], and a MIDI track "Take", armed, recording the first track's
--     MIDI output. Then:
--       take1: the player plays a 2-bar chord phrase, Generate is pressed at beat 7.5 (Manual
--              mode), the output is recorded until beat 18;
--       stop:  the same, but the transport stops in the middle of the generated phrase;
--       take2: the tempo changes from 120 to 90 BPM at beat 10, then as take1;
--     and the session is saved.
--   CONTINUO_ARDOUR_PHASE=reopen: loads the saved session, stays stopped, then rolls where
--     nothing is played, and logs everything Continuo sends.
--
-- Results go to CONTINUO_ARDOUR_RESULT, one fact a line, fields separated by tabs:
--   info   <key> <value...>
--   param  <n> <name> <lower> <upper> <value>
--   mark   <label> <sample> <cycle> <last rolling cycle>   a moment of the run: the transport
--          sample, the logger's process cycle count and the last cycle in which it was rolling
--   take   <label> <copied .mid path> <region position, samples> <region start, samples>
--   ev     <label> <sample> <rolling 0/1> <cycle> <status> <data1> <data2>   Continuo's output
--   tempo  <beat> <bpm>
--   done
-- The session lives in CONTINUO_ARDOUR_DIR/session.

local phase = os.getenv ("CONTINUO_ARDOUR_PHASE") or "create"
local dir = assert (os.getenv ("CONTINUO_ARDOUR_DIR"), "CONTINUO_ARDOUR_DIR is not set")
local result_path = assert (os.getenv ("CONTINUO_ARDOUR_RESULT"), "CONTINUO_ARDOUR_RESULT is not set")
local session_dir = dir .. "/session"
local session_name = "session"

local RATE = 48000
local BLOCK = 1024
local SPB = RATE * 60 / 120 -- samples per beat at 120 BPM

local out = assert (io.open (result_path, "w"))
local function emit (...)
	local fields = { ... }
	for i = 1, #fields do fields[i] = tostring (fields[i]) end
	out:write (table.concat (fields, "\t"), "\n")
	out:flush ()
end
local function fail (msg)
	emit ("error", msg)
	out:close ()
	error (msg)
end

local function copy_file (from, to)
	local f = assert (io.open (from, "rb"))
	local bytes = f:read ("a")
	f:close ()
	local g = assert (io.open (to, "wb"))
	g:write (bytes)
	g:close ()
end

---------------------------------------------------------------------------------------------
-- engine

ARDOUR.config ():set_hide_dummy_backend (false)
local backend = AudioEngine:set_backend ("None (Dummy)", "", "")
if not backend or backend:isnil () then fail ("the dummy backend is missing") end
backend:set_buffer_size (BLOCK)

if phase == "create" then
	if not create_session (session_dir, session_name, RATE) then fail ("create_session failed") end
else
	if not load_session (session_dir, session_name) then fail ("load_session failed") end
end
emit ("info", "rate", Session:nominal_sample_rate ())
emit ("info", "block", backend:buffer_size ())

local TRS = ARDOUR.TransportRequestSource.TRS_UI

local function wait_until (pred, seconds, what)
	local t = 0
	while not pred () do
		sleep (0.005)
		t = t + 0.005
		if t > seconds then fail ("timed out waiting for " .. what) end
	end
end

local function locate (sample)
	Session:request_locate (sample, false, ARDOUR.LocateTransportDisposition.MustStop, TRS)
	wait_until (function () return Session:transport_sample () == sample and not Session:transport_rolling () end, 10, "locate")
	sleep (0.2)
end

local function wait_for_sample (sample)
	wait_until (function () return Session:transport_sample () >= sample end, 120, "sample " .. sample)
end

---------------------------------------------------------------------------------------------
-- the tracks and their processors

local function route (name)
	local r = Session:route_by_name (name)
	if r:isnil () then fail ("no route " .. name) end
	return r
end

local function find_proc (r, name)
	local i = 0
	while true do
		local p = r:nth_plugin (i)
		if p:isnil () then return nil end
		if p:display_name () == name or p:name () == name then return p end
		i = i + 1
	end
end

local gen, take, continuo, player, logger

if phase == "create" then
	-- the plugin, from the scan cache that the test filled before starting Ardour
	local info = nil
	for p in ARDOUR.LuaAPI.list_plugins ():iter () do
		if p.type == ARDOUR.PluginType.VST3 then
			emit ("info", "vst3", p.name, p.unique_id)
			if p.name == "Continuo" then info = p end
		end
	end
	if not info then fail ("Ardour does not list the Continuo VST3 (scan failed?)") end

	local midi1 = ARDOUR.ChanCount (ARDOUR.DataType ("midi"), 1)
	local tl = Session:new_midi_track (midi1, midi1, false, ARDOUR.PluginInfo (), nil, nil, 1, "Continuo",
		ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true)
	if tl:size () ~= 1 then fail ("could not create the Continuo track") end
	tl = Session:new_midi_track (midi1, midi1, false, ARDOUR.PluginInfo (), nil, nil, 1, "Take",
		ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true)
	if tl:size () ~= 1 then fail ("could not create the Take track") end
	gen = route ("Continuo")
	take = route ("Take")

	player = ARDOUR.LuaAPI.new_luaproc (Session, "Continuo Test Player")
	if player:isnil () then fail ("no Lua DSP 'Continuo Test Player' (script folder?)") end
	continuo = ARDOUR.LuaAPI.new_plugin (Session, info.unique_id, ARDOUR.PluginType.VST3, "")
	if continuo:isnil () then fail ("Ardour could not instantiate Continuo") end
	logger = ARDOUR.LuaAPI.new_luaproc (Session, "Continuo Test Logger")
	if logger:isnil () then fail ("no Lua DSP 'Continuo Test Logger'") end
	-- index 0 = first in the chain (before the fader)
	if gen:add_processor_by_index (player, 0, nil, true) ~= 0 then fail ("cannot add the player") end
	if gen:add_processor_by_index (continuo, 1, nil, true) ~= 0 then fail ("cannot add Continuo") end
	if gen:add_processor_by_index (logger, 2, nil, true) ~= 0 then fail ("cannot add the logger") end
else
	gen = route ("Continuo")
	take = route ("Take")
	player = find_proc (gen, "Continuo Test Player")
	logger = find_proc (gen, "Continuo Test Logger")
	continuo = find_proc (gen, "Continuo")
	if not (player and logger and continuo) then fail ("the reopened session lacks a processor") end
end

do -- processor order as Ardour has it
	local i = 0
	while true do
		local p = gen:nth_plugin (i)
		if p:isnil () then break end
		emit ("info", "processor", i, p:display_name ())
		i = i + 1
	end
end

-- Continuo's parameters, by name (the VST3 also has nice-plug's hidden MIDI CC parameters)
local plugin = continuo:to_insert ():plugin (0)
local param_index = {}
do
	local count = plugin:parameter_count ()
	for n = 0, count - 1 do
		-- reference arguments come back in a table after the return value
		local ctrl, refs = plugin:nth_parameter (n, false)
		if refs[2] and plugin:parameter_is_input (ctrl) then
			local _, t = plugin:get_parameter_descriptor (ctrl, ARDOUR.ParameterDescriptor ())
			local pd = t[2]
			local value = ARDOUR.LuaAPI.get_processor_param (continuo, n, false)
			if not pd.label:find ("^MIDI CC ") then
				emit ("param", n, pd.label, pd.lower, pd.upper, value)
			end
			param_index[pd.label] = n
		end
	end
	emit ("info", "parameters", count)
end

local function set_param (name, value)
	local n = param_index[name]
	if not n then fail ("Continuo has no parameter " .. name) end
	if not ARDOUR.LuaAPI.set_processor_param (continuo, n, value) then
		fail ("cannot set " .. name .. " to " .. value)
	end
end

local function logger_shm ()
	return logger:to_insert ():plugin (0):to_luaproc ():shmem ():to_int (0):array ()
end

local function mark (label)
	local shm = logger_shm ()
	emit ("mark", label, Session:transport_sample (), shm[2], shm[5])
end

-- everything the logger saw since the last call
local logged = 0
local function drain (label)
	local shm = logger_shm ()
	local n = shm[1]
	for i = logged, n - 1 do
		local b = 5 + i * 6
		emit ("ev", label, shm[b + 1], shm[b + 2], shm[b + 3], shm[b + 4], shm[b + 5], shm[b + 6])
	end
	logged = n
	if n >= 60000 then emit ("info", "logger_full", label) end
end

local function emit_tempo_map ()
	local tm = Temporal.TempoMap.read ()
	for beat = 0, 40 do
		local tp = Temporal.timepos_t.from_ticks (Temporal.ticks_per_beat * beat)
		emit ("tempo", beat, tm:quarters_per_minute_at (tp), tp:samples ())
	end
	tm = nil
end

---------------------------------------------------------------------------------------------
-- create: record Continuo's answers

if phase == "create" then
	-- the take track hears only the Continuo track's MIDI output
	take:input ():disconnect_all (nil)
	gen:input ():disconnect_all (nil)
	local src = gen:output ():midi (0)
	local dst = take:input ():midi (0)
	if src:isnil () or dst:isnil () then fail ("a track lacks a MIDI port") end
	gen:output ():disconnect_all (nil)
	if take:input ():connect (dst, src:name (), nil) ~= 0 then fail ("cannot connect the take track") end
	emit ("info", "routing", src:name (), "->", dst:name ())

	set_param ("Mode", 0) -- Manual
	set_param ("Length", 2) -- bars: a phrase from beat 8 or 9 ends by beat 17, before every stop
	set_param ("Seed", 1)
	emit ("info", "seed_param", "set to 1 (plugin units)")
	ARDOUR.LuaAPI.set_processor_param (player, 0, 1) -- Play

	local tm = Temporal.TempoMap.fetch_writable ()
	tm:set_tempo (Temporal.Tempo (120, 120, 4), Temporal.timepos_t (0))
	Temporal.TempoMap.update (tm)
	tm = nil

	-- Waits until Continuo (as the logger sees it) has a note sounding that started at or after
	-- `from`, or until the transport reaches `latest`. Returns true if a note sounds.
	local function wait_for_sounding_note (from, latest)
		local seen = logged
		local sounding = {}
		local count = 0
		while Session:transport_sample () < latest do
			local shm = logger_shm ()
			local n = shm[1]
			for i = seen, n - 1 do
				local b = 5 + i * 6
				local sample, status, key, vel = shm[b + 1], shm[b + 4], shm[b + 5], shm[b + 6]
				local id = (status & 15) * 128 + key
				if (status & 0xf0) == 0x90 and vel > 0 and sample >= from then
					sounding[id] = (sounding[id] or 0) + 1
					count = count + 1
				elseif ((status & 0xf0) == 0x80 or (status & 0xf0) == 0x90) and (sounding[id] or 0) > 0 then
					sounding[id] = sounding[id] - 1
					count = count - 1
				end
			end
			seen = n
			if count > 0 then return true end
			sleep (0.002)
		end
		return false
	end

	-- Records from beat 0: the player plays, Generate is pressed at beat 7.5; the transport stops
	-- at `stop_at`, or (with `stop_when_sounding`) as soon as a note that started after beat 9
	-- sounds.
	local function record (label, stop_at, stop_when_sounding)
		take:to_track ():rec_enable_control ():set_value (1, PBD.GroupControlDisposition.NoGroup)
		locate (0)
		Session:maybe_enable_record (false)
		drain ("idle")
		mark (label .. "_start")
		Session:request_roll (TRS)
		wait_for_sample (7.5 * SPB)
		mark (label .. "_generate")
		set_param ("Generate", 1)
		sleep (0.2)
		set_param ("Generate", 0)
		if stop_when_sounding then
			local ok = wait_for_sounding_note (9 * SPB, stop_at)
			emit ("info", label .. "_stopped_while_sounding", ok and 1 or 0)
		else
			wait_for_sample (stop_at)
		end
		mark (label .. "_stop")
		Session:request_stop (false, false, TRS)
		wait_until (function () return not Session:transport_rolling () end, 10, "stop")
		mark (label .. "_stopped")
		sleep (1.0) -- stopped: anything still sounding must have been ended by now
		mark (label .. "_end")
		drain (label)
		Session:disable_record (false, false)
		take:to_track ():rec_enable_control ():set_value (0, PBD.GroupControlDisposition.NoGroup)
		sleep (0.5)
	end

	local function last_region ()
		local best = nil
		for r in take:to_track ():playlist ():region_list ():iter () do
			if best == nil or r:layer () > best:layer () then best = r end
		end
		return best
	end

	local function save_take (label)
		local r = last_region ()
		if not r then fail ("no region was recorded for " .. label) end
		local src = r:source (0)
		if src:isnil () then fail ("the take of " .. label .. " has no source") end
		local fs = src:to_filesource ()
		if fs:isnil () then fail ("the take of " .. label .. " is not in a file") end
		Session:save_state ("", false, false, false, false, false) -- writes the MIDI model to disk
		local copy = dir .. "/" .. label .. ".mid"
		copy_file (fs:path (), copy)
		emit ("take", label, copy, r:position ():samples (), r:start ():samples (), r:length ():samples (), fs:path ())
	end

	record ("take1", 18 * SPB)
	save_take ("take1")

	-- stop in the middle of the phrase, while a generated note sounds
	record ("stop", 16 * SPB, true)

	-- 120 -> 90 BPM at beat 10: beats 10..18 take 8 * 32000 samples
	local tm = Temporal.TempoMap.fetch_writable ()
	tm:set_tempo (Temporal.Tempo (90, 90, 4), Temporal.timepos_t.from_ticks (Temporal.ticks_per_beat * 10))
	Temporal.TempoMap.update (tm)
	tm = nil
	emit_tempo_map ()
	record ("take2", 10 * SPB + 8 * RATE * 60 / 90)
	save_take ("take2")

	Session:save_state ("", false, false, false, false, false)
	emit ("done")
	out:close ()
	close_session ()
	quit ()
	return
end

---------------------------------------------------------------------------------------------
-- reopen: what does Continuo send when the session comes back?

sleep (3.0)
mark ("reopen_idle")
drain ("reopen_stopped")
locate (40 * SPB) -- far past everything played or generated
Session:request_roll (TRS)
wait_for_sample (40 * SPB + 2 * RATE)
Session:request_stop (false, false, TRS)
wait_until (function () return not Session:transport_rolling () end, 10, "stop")
sleep (0.5)
mark ("reopen_end")
drain ("reopen_rolling")
emit ("done")
out:close ()
close_session ()
quit ()
