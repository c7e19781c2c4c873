package web

import (
	"bufio"
	"fmt"
	"html"
	"html/template"
	"regexp"
	"strings"
)

// The user guide is markdown under guide/, one file per language, shown on
// the help page. Only the little markdown the guide uses is understood:
// headings, paragraphs, lists, images, links, `code` and **bold**.

// guide returns the guide in lang as HTML.
func (s *Server) guide(lang string) (template.HTML, error) {
	name := "guide/zh-CN.md"
	if lang == LangEN {
		name = "guide/en.md"
	}
	b, err := files.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	return template.HTML(Markdown(string(b))), nil
}

var (
	mdImage  = regexp.MustCompile(`!\[([^\]]*)\]\(([^)\s]+)\)`)
	mdLink   = regexp.MustCompile(`\[([^\]]+)\]\(([^)\s]+)\)`)
	mdCode   = regexp.MustCompile("`([^`]+)`")
	mdBold   = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	mdOrderd = regexp.MustCompile(`^[0-9]+\. `)
)

// Markdown renders the guide's markdown as HTML. All text is escaped first;
// links and images may only point at paths on this server or at https.
func Markdown(md string) string {
	var out strings.Builder
	var para []string
	list := ""
	flush := func() {
		if len(para) > 0 {
			out.WriteString("<p>" + inline(strings.Join(para, " ")) + "</p>\n")
			para = nil
		}
	}
	endList := func() {
		if list != "" {
			out.WriteString("</" + list + ">\n")
			list = ""
		}
	}
	sc := bufio.NewScanner(strings.NewReader(md))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t")
		switch {
		case line == "":
			flush()
			endList()
		case strings.HasPrefix(line, "#"):
			flush()
			endList()
			level := len(line) - len(strings.TrimLeft(line, "#"))
			level = min(max(level, 1), 4)
			fmt.Fprintf(&out, "<h%d>%s</h%d>\n", level, inline(strings.TrimSpace(strings.TrimLeft(line, "#"))), level)
		case strings.HasPrefix(line, "- ") || mdOrderd.MatchString(line):
			flush()
			kind, item := "ul", strings.TrimPrefix(line, "- ")
			if loc := mdOrderd.FindStringIndex(line); loc != nil {
				kind, item = "ol", line[loc[1]:]
			}
			if list != kind {
				endList()
				out.WriteString("<" + kind + ">\n")
				list = kind
			}
			out.WriteString("<li>" + inline(item) + "</li>\n")
		default:
			if list != "" && strings.HasPrefix(line, "  ") {
				// A continued list item: rare in the guide, shown as its own line.
				out.WriteString("<li class=\"more\">" + inline(strings.TrimSpace(line)) + "</li>\n")
				continue
			}
			endList()
			para = append(para, strings.TrimSpace(line))
		}
	}
	flush()
	endList()
	return out.String()
}

// inline renders the inline markdown of one escaped line.
func inline(s string) string {
	s = html.EscapeString(s)
	s = mdImage.ReplaceAllStringFunc(s, func(m string) string {
		p := mdImage.FindStringSubmatch(m)
		if !strings.Contains(p[2], ":") && !strings.HasPrefix(p[2], "/") {
			p[2] = "/guide/" + p[2] // relative to the guide's folder, as on GitHub
		}
		if !safeURL(p[2]) {
			return p[1]
		}
		return `<img src="` + p[2] + `" alt="` + p[1] + `">`
	})
	s = mdLink.ReplaceAllStringFunc(s, func(m string) string {
		p := mdLink.FindStringSubmatch(m)
		if !safeURL(p[2]) {
			return p[1]
		}
		return `<a href="` + p[2] + `">` + p[1] + `</a>`
	})
	s = mdCode.ReplaceAllString(s, "<code>$1</code>")
	s = mdBold.ReplaceAllString(s, "<strong>$1</strong>")
	return s
}

// safeURL reports whether a link of the guide may be followed: a path on
// this server, an anchor, or https.
func safeURL(u string) bool {
	return (strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//")) || strings.HasPrefix(u, "#") || strings.HasPrefix(u, "https://")
}
