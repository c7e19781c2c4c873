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
	"dash.perminute": {"每分钟消费笔数", "Sales per minute"},
	"dash.today":     {"今日笔数 / 金额", "Today: sales / takings"},
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

	"rep.voids":       {"冲正", "Voids"},
	"rep.refunds":     {"退款", "Refunds"},
	"rep.date":        {"日期", "Date"},
	"rep.show":        {"查看", "Show"},
	"rep.csv":         {"下载 CSV", "Download CSV"},
	"rep.byreg":       {"按收银机", "By register"},
	"rep.byperiod":    {"按餐次", "By meal period"},
	"rep.byhour":      {"按小时", "By hour"},
	"rep.sales":       {"笔数", "Sales"},
	"rep.chart":       {"每小时消费金额", "Takings per hour"},
	"rep.periodchart": {"各餐次消费金额", "Takings per meal period"},
	"rep.regchart":    {"各收银机消费金额", "Takings per register"},
	"rep.other":       {"其他时段", "Outside meal periods"},
	"rep.printto":     {"打印到打印机", "Print on a printer"},
	"rep.printer":     {"打印机", "Printer"},
	"rep.kind":        {"报表", "Report"},
	"rep.kind.daily":  {"营业日报", "Daily report"},
	"rep.kind.z":      {"餐次 Z 报表", "Meal period Z report"},
	"rep.kind.shift":  {"收银机交班报表", "Register shift report"},
	"rep.period":      {"餐次", "Meal period"},
	"rep.register":    {"收银机", "Register"},
	"rep.queued":      {"已送打印队列", "Sent to the print queue"},
	"rep.browser":     {"打印本页", "Print this page"},
	"rep.periodcsv":   {"下载餐次 CSV", "Download meal periods CSV"},
	"rep.regcsv":      {"下载收银机 CSV", "Download registers CSV"},
	"rep.noprinter":   {"没有配置打印机", "No printer configured"},

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
	"col.cashiers":    {"收银员", "Cashiers"},
	"col.voids":       {"撤销", "Voids"},
	"col.flagged":     {"待复核", "Flagged"},
	"col.seqs":        {"流水号", "Journal entries"},
	"col.times":       {"时段", "Times"},
	"col.today":       {"今日笔数 / 金额", "Today: sales / takings"},

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
