--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'SQL_ASCII';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Data for Name: audit_log; Type: TABLE DATA; Schema: apikey; Owner: -
--

COPY apikey.audit_log (id, at, action, key_id, owner, actor, client_ip, request_method, request_path, status, detail) FROM stdin;
1	2026-11-25 19:49:19.614701+00	issued	9f138cbf-2336-4a42-bea9-826a69740e97	acme	postgres	\N	\N	\N	\N	{"name": "quota key", "tier": "free", "scopes": ["orders:read", "orders:write"], "expires_at": null, "display_prefix": "ak_live_At8k7fra"}
2	2026-11-25 19:49:19.61602+00	updated	9f138cbf-2336-4a42-bea9-826a69740e97	acme	postgres	\N	\N	\N	\N	{"changes": {"daily_quota": 10, "rate_limits": [{"name": "minute", "limit": 100, "period": "1 minute"}], "monthly_quota": 100}, "display_prefix": "ak_live_At8k7fra"}
3	2026-11-25 19:49:19.616954+00	issued	91921e31-1f8c-46e8-bdf8-f11abda1538e	initech	postgres	\N	\N	\N	\N	{"name": "gold key", "tier": "gold", "scopes": [], "expires_at": "2027-09-21 19:49:19.616954+00", "display_prefix": "ak_live_lbROFx8b"}
4	2026-11-25 19:49:19.617521+00	issued	309c2e53-d47d-4ac9-9a17-7c5d7c4c4569	acme	postgres	\N	\N	\N	\N	{"name": "revoked key", "tier": "free", "scopes": [], "expires_at": null, "display_prefix": "ak_live_CPxOlPBG"}
5	2026-11-25 19:49:19.618004+00	revoked	309c2e53-d47d-4ac9-9a17-7c5d7c4c4569	acme	postgres	\N	\N	\N	\N	{"reason": "compromised", "display_prefix": "ak_live_CPxOlPBG"}
6	2026-11-25 19:49:19.618509+00	issued	4d3e5f13-2bdf-4b10-b08b-f939bb766e88	acme	postgres	\N	\N	\N	\N	{"name": "rotated key", "tier": "free", "scopes": [], "expires_at": null, "display_prefix": "ak_live_NPaG6R1p"}
7	2026-11-25 19:49:19.619058+00	updated	4d3e5f13-2bdf-4b10-b08b-f939bb766e88	acme	postgres	\N	\N	\N	\N	{"changes": {"daily_quota": 50}, "display_prefix": "ak_live_NPaG6R1p"}
8	2026-11-25 19:49:19.620064+00	rotated	4d3e5f13-2bdf-4b10-b08b-f939bb766e88	acme	postgres	\N	\N	\N	\N	{"grace": "30 days", "new_key_id": "0616e09b-5610-4ee1-9f18-f3640b433f92", "display_prefix": "ak_live_NPaG6R1p", "new_display_prefix": "ak_live_zDdT2hiW", "old_key_expires_at": "2026-12-25 19:49:19.620064+00"}
9	2026-11-25 19:49:19.620064+00	issued	0616e09b-5610-4ee1-9f18-f3640b433f92	acme	postgres	\N	\N	\N	\N	{"rotated_from": "4d3e5f13-2bdf-4b10-b08b-f939bb766e88", "display_prefix": "ak_live_zDdT2hiW"}
10	2026-11-25 19:49:19.620837+00	issued	016957da-9965-4f3a-8485-3d71d6292b92	globex	postgres	\N	\N	\N	\N	{"name": "plain key", "tier": "free", "scopes": ["*"], "expires_at": null, "display_prefix": "ak_live_uXQKuYgm"}
11	2026-11-25 19:49:19.622261+00	denied	91921e31-1f8c-46e8-bdf8-f11abda1538e	initech	postgres	192.0.2.1	\N	\N	403	{"code": "IP_NOT_ALLOWED", "prefix": "ak_live_lbROFx8b"}
12	2026-11-25 19:49:19.622354+00	denied	309c2e53-d47d-4ac9-9a17-7c5d7c4c4569	acme	postgres	\N	\N	\N	401	{"code": "REVOKED", "prefix": "ak_live_CPxOlPBG"}
13	2026-11-25 19:49:19.622428+00	denied	\N	\N	postgres	\N	\N	\N	401	{"code": "MALFORMED"}
\.


--
-- Data for Name: tiers; Type: TABLE DATA; Schema: apikey; Owner: -
--

COPY apikey.tiers (name, rate_limits, daily_quota, monthly_quota, max_concurrency, price_per_1k) FROM stdin;
gold	[{"name": "second", "limit": 50, "period": "1 second"}, {"name": "hour", "limit": 5000, "period": "1 hour"}]	1000	20000	4	0.5
\.


--
-- Data for Name: keys; Type: TABLE DATA; Schema: apikey; Owner: -
--

COPY apikey.keys (id, prefix, key_hash, owner, org, name, scopes, tier, rate_limits, daily_quota, monthly_quota, max_concurrency, allowed_ips, metadata, created_at, expires_at, revoked_at, revoke_reason, last_used_at, rotated_from, rotated_to, jwt_role, daily_usage, usage_day, monthly_usage, usage_month) FROM stdin;
91921e31-1f8c-46e8-bdf8-f11abda1538e	ak_live_lbROFx8b	\\x20503aa916fd83c2dfe2505f0d8f883e8ac455264b42c7b42f1046c70439eac3	initech	\N	gold key	{}	gold	\N	\N	\N	\N	{10.0.0.0/8}	{}	2026-11-25 19:49:19.616954+00	2027-09-21 19:49:19.616954+00	\N	\N	2026-11-25 19:49:19.622272+00	\N	\N	\N	1	2026-11-25	1	2026-11-01
309c2e53-d47d-4ac9-9a17-7c5d7c4c4569	ak_live_CPxOlPBG	\\x698aa9211393986adfe889f51ab7347b38134db4d34687bc28bf2be6ea3eded8	acme	\N	revoked key	{}	free	\N	\N	\N	\N	\N	{}	2026-11-25 19:49:19.617521+00	\N	2026-11-25 19:49:19.618004+00	compromised	2026-11-25 19:49:19.622357+00	\N	\N	\N	0	\N	0	\N
0616e09b-5610-4ee1-9f18-f3640b433f92	ak_live_zDdT2hiW	\\xdeabb2afb1e34663241b7088f68bf0f4616d7481fde17172fcebf1fa00d14e6f	acme	\N	rotated key	{}	free	[{"name": "minute", "limit": 3, "period": "1 minute"}]	50	\N	\N	\N	{}	2026-11-25 19:49:19.620064+00	\N	\N	\N	2026-11-25 19:49:19.622573+00	4d3e5f13-2bdf-4b10-b08b-f939bb766e88	\N	\N	1	2026-11-25	1	2026-11-01
4d3e5f13-2bdf-4b10-b08b-f939bb766e88	ak_live_NPaG6R1p	\\xb3edc3caa33e858929fbdbbd9a2f38457a9fbb20ae6e862e744bea3683916076	acme	\N	rotated key	{}	free	[{"name": "minute", "limit": 3, "period": "1 minute"}]	50	\N	\N	\N	{}	2026-11-25 19:49:19.618509+00	2026-12-25 19:49:19.620064+00	\N	\N	2026-11-25 19:49:19.61999+00	\N	0616e09b-5610-4ee1-9f18-f3640b433f92	\N	1	2026-11-25	1	2026-11-01
016957da-9965-4f3a-8485-3d71d6292b92	ak_live_uXQKuYgm	\\x66fe702a8da48aed1aa129adf37f06b17523ca324506df80ab9bb754014c446e	globex	\N	plain key	{*}	free	\N	\N	\N	\N	\N	{}	2026-11-25 19:49:19.620837+00	\N	\N	\N	2026-11-25 19:49:19.622699+00	\N	\N	\N	0	\N	0	\N
9f138cbf-2336-4a42-bea9-826a69740e97	ak_live_At8k7fra	\\xec86d86aa3c809d7b5f39d60c1cbefe95c00bf3eb75fd515506d5821e67f17f2	acme	acme-org	quota key	{orders:read,orders:write}	free	[{"name": "minute", "limit": 100, "period": "1 minute"}]	10	100	\N	\N	{"plan": "pro"}	2026-11-25 19:49:19.614701+00	\N	\N	\N	2026-11-25 19:49:33.067766+00	\N	\N	\N	3	2026-11-25	3	2026-11-01
\.


--
-- Data for Name: scope_map; Type: TABLE DATA; Schema: apikey; Owner: -
--

COPY apikey.scope_map (method, path_pattern, scope, priority) FROM stdin;
GET	/orders%	orders:read	0
POST	/orders%	orders:write	0
\.


--
-- Data for Name: usage_hourly; Type: TABLE DATA; Schema: apikey; Owner: -
--

COPY apikey.usage_hourly (key_id, hour, requests, allowed, rate_limited, quota_exceeded, denied_auth, cost_units, avg_ms, p95_ms, p99_ms, endpoints, latency_hist) FROM stdin;
016957da-9965-4f3a-8485-3d71d6292b92	2026-11-25 19:00:00+00	1	1	0	0	0	1	0.005	0.032	0.032	{}	{1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}
0616e09b-5610-4ee1-9f18-f3640b433f92	2026-11-25 19:00:00+00	1	1	0	0	0	1	0.008	0.032	0.032	{}	{1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}
309c2e53-d47d-4ac9-9a17-7c5d7c4c4569	2026-11-25 19:00:00+00	1	0	0	0	1	0	\N	\N	\N	{}	{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}
4d3e5f13-2bdf-4b10-b08b-f939bb766e88	2026-11-25 19:00:00+00	1	1	0	0	0	1	0.014	0.032	0.032	{}	{1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}
91921e31-1f8c-46e8-bdf8-f11abda1538e	2026-11-25 19:00:00+00	2	1	0	0	1	1	0.008	0.032	0.032	{}	{1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}
9f138cbf-2336-4a42-bea9-826a69740e97	2026-11-25 19:00:00+00	2	2	0	0	0	3	0.0125	0.03	0.032	{}	{2,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}
\.


--
-- Data for Name: upgrade_tokens; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.upgrade_tokens (what, key_id, token) FROM stdin;
quota	9f138cbf-2336-4a42-bea9-826a69740e97	ak_live_At8k7fraFFkzmctAsVgtG0ilnzdOt4ZT3j5Do9
gold	91921e31-1f8c-46e8-bdf8-f11abda1538e	ak_live_lbROFx8bX3zzTVexCX6NZobEAvFkl9Yl0s5zAN
revoked	309c2e53-d47d-4ac9-9a17-7c5d7c4c4569	ak_live_CPxOlPBGlhp9C9HdYSZhvhJHVWlLdN071p1jeD
rotated_old	4d3e5f13-2bdf-4b10-b08b-f939bb766e88	ak_live_NPaG6R1pbswT3fOSZ4qniR1ajILAutvq2KqL0w
rotated_new	0616e09b-5610-4ee1-9f18-f3640b433f92	ak_live_zDdT2hiWENZlJbY3TWXxmTIiJ9aT8XAw1pKVlC
jwt	016957da-9965-4f3a-8485-3d71d6292b92	ak_live_uXQKuYgm4HumuFoHA3SlSdluBPqTAesG1FOOWQ
\.


--
-- Name: audit_log_id_seq; Type: SEQUENCE SET; Schema: apikey; Owner: -
--

SELECT pg_catalog.setval('apikey.audit_log_id_seq', 13, true);


--
-- PostgreSQL database dump complete
--


