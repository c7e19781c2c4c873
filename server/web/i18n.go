package web

// Languages the page speaks: Chinese first, English second.
const (
	LangZH = "zh-CN"
	LangEN = "en"
)

// messages holds every text of the page, by key: [zh-CN, English]. The
// templates look them up with .T; the script gets them all as JSON.
var messages = map[string][2]string{
	"app":             {"饭卡管理中心", "Fanka office"},
	"nav.dashboard":   {"概览", "Dashboard"},
	"nav.cards":       {"饭卡", "Cards"},
	"nav.registers":   {"收银机", "Registers"},
	"nav.sales":       {"实时消费", "Live sales"},
	"nav.reports":     {"报表", "Reports"},
	"nav.rules":       {"规则", "Rules"},
	"nav.audit":       {"审计日志", "Audit log"},
	"nav.users":       {"用户", "Users"},
	"nav.help":        {"帮助", "Help"},
	"logout":          {"退出", "Sign out"},
	"login":           {"登录", "Sign in"},
	"login.user":      {"用户名", "User name"},
	"login.password":  {"密码", "Password"},
	"login.wrong":     {"用户名或密码错误", "Wrong user name or password"},
	"login.throttled": {"失败次数过多，请在 %d 秒后再试", "Too many failed sign-ins: try again in %d s"},
	"login.expired":   {"页面已过期，请重新登录", "The page expired: please sign in again"},
	"forbidden":       {"无权访问此页面", "You may not open this page"},
	"notfound":        {"没有此页面", "No such page"},
	"role.admin":      {"管理员", "admin"},
	"role.operator":   {"操作员", "operator"},
	"role.auditor":    {"审计员", "auditor"},
	"error":           {"错误", "Error"},
	"loading":         {"加载中…", "Loading…"},
	"none":            {"无", "none"},
	"ok":              {"确定", "OK"},
	"cancel":          {"取消", "Cancel"},
	"confirm":         {"请确认", "Please confirm"},
	"done":            {"完成", "Done"},
	"print":           {"打印", "Print"},
	"refresh":         {"刷新", "Refresh"},
	"yuan":            {"元", "yuan"},
	"amount":          {"金额", "Amount"},
	"time":            {"时间", "Time"},
	"name":            {"姓名", "Name"},
	"status":          {"状态", "Status"},
	"today":           {"今日", "Today"},

	"dash.sales":     {"今日消费笔数", "Sales today"},
	"dash.amount":    {"今日消费金额", "Takings today"},
	"dash.byhour":    {"每小时消费", "Sales per hour"},
	"dash.registers": {"收银机状态", "Registers"},
	"dash.alarms":    {"告警", "Alarms"},
	"online":         {"在线", "online"},
	"offline":        {"离线", "offline"},
	"disabled":       {"已停用", "disabled"},
	"not_enrolled":   {"未注册", "not enrolled"},

	"card.search":      {"搜索（卡号、姓名或证件号）", "Search (card number, name or person id)"},
	"card.find":        {"查找", "Find"},
	"card.open":        {"开卡", "Open a card"},
	"card.no":          {"卡号", "Card number"},
	"card.no.optional": {"卡号（可空，由系统分配）", "Card number (empty: allocated)"},
	"card.person":      {"证件号或手机号", "Person id (ID card or phone)"},
	"card.slip":        {"打印凭条（充值、退款、销卡）", "Print a slip (recharge, refund, close)"},
	"card.noslip":      {"不打印", "no slip"},
	"card.printerr":    {"凭条未能打印", "The slip was not printed"},
	"card.spendable":   {"可用余额", "Spendable"},
	"card.phoneno":     {"手机号", "Phone"},
	"card.personid":    {"证件号", "Person id"},
	"card.userclass":   {"人员类别", "User class"},
	"card.phone":       {"手机号（可空）", "Phone (optional)"},
	"card.class":       {"人员类别（可空）", "User class (optional)"},
	"card.deposit":     {"预存金额（元）", "Deposit (yuan)"},
	"card.balance":     {"余额", "Balance"},
	"card.held":        {"暂扣金额", "Held"},
	"card.today":       {"今日次数", "Sales today"},
	"card.show":        {"查看", "Open"},
	"card.results":     {"搜索结果", "Results"},
	"card.noresults":   {"没有找到饭卡", "No card found"},
	"card.recharge":    {"充值", "Recharge"},
	"card.refund":      {"退款", "Refund"},
	"card.freeze":      {"冻结", "Freeze"},
	"card.unfreeze":    {"解冻", "Unfreeze"},
	"card.lost":        {"挂失", "Report lost"},
	"card.replace":     {"补卡", "Replace"},
	"card.close":       {"销卡", "Close"},
	"card.newno":       {"新卡号", "New card number"},
	"card.amount":      {"金额（元）", "Amount (yuan)"},
	"card.badamount":   {"金额格式错误：如 12.50", "Amount must look like 12.50"},
	"card.opened":      {"已开卡", "Card opened"},
	"status.active":    {"正常", "active"},
	"status.frozen":    {"已冻结", "frozen"},
	"status.lost":      {"已挂失", "lost"},
	"status.closed":    {"已销卡", "closed"},

	"reg.create":   {"新建收银机", "New register"},
	"reg.name":     {"名称", "Name"},
	"reg.code":     {"注册码（一次有效）", "Enrolment code (one use)"},
	"reg.lastseen": {"最后连接", "Last seen"},
	"reg.lastseq":  {"最后流水号", "Last seq"},
	"reg.more":     {"更多", "More"},
	"reg.disable":  {"停用", "Disable"},
	"reg.enable":   {"启用", "Enable"},

	"sales.void":                {"冲正", "void"},
	"outcome.settled":           {"成功", "settled"},
	"outcome.settled-overdraft": {"成功（透支）", "settled, overdrawn"},
	"outcome.flagged":           {"待复核", "flagged for review"},
	"sales.live":                {"实时", "Live"},
	"sales.register":            {"收银机", "Register"},
	"sales.seq":                 {"流水号", "Seq"},
	"sales.outcome":             {"结果", "Outcome"},
	"sales.waiting":             {"正在连接实时消费…", "Connecting to the live feed…"},
	"sales.connected":           {"已连接，新消费将即时显示", "Connected: new sales appear as they settle"},
	"sales.lost":                {"实时连接已断开，正在重连", "Live feed lost: reconnecting"},

	"rep.voids":    {"冲正", "Voids"},
	"rep.refunds":  {"退款", "Refunds"},
	"rep.date":     {"日期", "Date"},
	"rep.show":     {"查看", "Show"},
	"rep.csv":      {"下载 CSV", "Download CSV"},
	"rep.byreg":    {"按收银机", "By register"},
	"rep.byperiod": {"按餐次", "By meal period"},
	"rep.byhour":   {"按小时", "By hour"},
	"rep.sales":    {"笔数", "Sales"},
	"rep.chart":    {"每小时消费金额", "Takings per hour"},

	"rules.readonly":             {"只读：只有管理员可以修改规则", "Read only: only an admin changes the rules"},
	"rules.version":              {"版本", "version"},
	"rules.defaults":             {"默认规则（尚未修改）", "the defaults (never changed)"},
	"rules.general":              {"消费限制", "Sale limits"},
	"rules.zero":                 {"填 0 或留空表示不限制。金额以元为单位，如 12.50。", "0 or empty: no limit. Amounts in yuan, like 12.50."},
	"rules.max_sales_per_day":    {"每卡每日最多消费次数", "Sales per card per day"},
	"rules.max_sale":             {"单笔最高金额（元）", "Most for one sale (yuan)"},
	"rules.max_day":              {"每卡每日最高金额（元）", "Most per card per day (yuan)"},
	"rules.min_gap_seconds":      {"防重复刷卡间隔（秒）", "Double-tap gap (seconds)"},
	"rules.outside_periods":      {"允许在用餐时段以外消费", "Allow sales outside the meal periods"},
	"rules.periods":              {"用餐时段与套餐价格", "Meal periods and preset prices"},
	"rules.presets.hint":         {"套餐价格按键 A、B、C…顺序填写，用逗号分隔，0 表示该键无套餐；留空则各收银机使用自己的设置。时间为 HH:MM，结束时间不含。", "Preset prices for keys A, B, C… in order, comma-separated; 0: no meal on that key; empty: each register keeps its own. Times are HH:MM, the end excluded."},
	"rules.period.name":          {"名称", "Name"},
	"rules.period.start":         {"开始", "Start"},
	"rules.period.end":           {"结束", "End"},
	"rules.period.max_sales":     {"每卡本时段最多次数", "Sales per card in it"},
	"rules.period.presets":       {"套餐价格 A, B, C…（元）", "Presets A, B, C… (yuan)"},
	"rules.period.add":           {"添加时段", "Add a meal period"},
	"rules.classes":              {"人员类别的限制", "Limits of a user class"},
	"rules.class.name":           {"人员类别", "User class"},
	"rules.class.add":            {"添加类别", "Add a user class"},
	"rules.remove":               {"删除", "Remove"},
	"rules.offline":              {"离线限制", "Offline limits"},
	"rules.offline.hint":         {"收银机连不上服务器时适用；每项取此处与收银机本地配置中更严格的一个。", "For registers that cannot reach the server; each register applies the stricter of these and its own config."},
	"rules.offline.max_sale":     {"离线单笔最高（元）", "Most for one offline sale (yuan)"},
	"rules.offline.max_card_day": {"离线每卡每日最高（元）", "Most per card per day offline (yuan)"},
	"rules.offline.max_unsynced": {"每台未上传总额最高（元）", "Most unsynced per register (yuan)"},
	"rules.offline.max_hours":    {"最长离线时间（小时）", "Longest time offline (hours)"},
	"rules.offline.soft_count":   {"离线笔数达到此数先尝试联网", "Offline sales before trying the server first"},
	"rules.offline.hard_count":   {"离线笔数上限", "Most offline sales waiting"},
	"rules.save":                 {"保存规则", "Save the rules"},
	"rules.reload":               {"重新读取", "Reload"},
	"rules.saved":                {"规则已保存，收银机将在几秒内生效", "Rules saved: registers apply them within seconds"},
	"rules.badnumber":            {"须为整数", "Must be a whole number"},
	"rules.badyuan":              {"须为金额，如 12.50", "Must be an amount like 12.50"},
	"rules.badpresets":           {"须为以逗号分隔的金额，如 12.00, 0, 8.50", "Must be amounts separated by commas, like 12.00, 0, 8.50"},
	"rules.fix":                  {"请改正标出的内容，规则未保存", "Please fix what is marked: nothing was saved"},

	"audit.verify": {"校验审计链", "Verify the chain"},
	"audit.ok":     {"审计链完整，已校验 %d 条", "The chain holds: %d entries checked"},
	"audit.bad":    {"审计链被破坏，第一条错误：", "The chain is broken at: "},
	"audit.user":   {"用户", "User"},
	"audit.action": {"操作", "Action"},
	"audit.detail": {"详情", "Detail"},
	"audit.hash":   {"哈希", "Hash"},

	"user.create":   {"新建用户", "New user"},
	"user.name":     {"用户名", "User name"},
	"user.password": {"密码（至少 12 位，不能是常见密码）", "Password (12 characters or more, not a common one)"},
	"user.role":     {"角色", "Role"},
	"user.created":  {"创建时间", "Created"},

	"col.terminal_id": {"收银机", "Register"},
	"col.terminal":    {"收银机", "Register"},
	"col.register":    {"收银机", "Register"},
	"col.name":        {"名称", "Name"},
	"col.period":      {"餐次", "Meal period"},
	"col.hour":        {"小时", "Hour"},
	"col.sales":       {"笔数", "Sales"},
	"col.amount":      {"金额", "Amount"},
	"col.backlog":     {"未上传", "Backlog"},
	"col.unsettled":   {"未结算", "Unsettled"},
	"col.lag":         {"延迟", "Lag"},
	"col.canteen":     {"食堂", "Canteen"},

	"help.guide": {"使用手册", "User guide"},
	"help.other": {"English guide", "中文手册"},
}

// text returns the message key in lang, or the key itself if there is none.
func text(lang, key string) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	if lang == LangEN {
		return m[1]
	}
	return m[0]
}

// allText returns every message in lang, for the script.
func allText(lang string) map[string]string {
	out := make(map[string]string, len(messages))
	for k := range messages {
		out[k] = text(lang, k)
	}
	return out
}
