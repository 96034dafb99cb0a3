package crm

// Page is one page of a list: its items in the list's order, and where the
// next page starts. Every list of the API is one (a GraphQL connection's
// nodes and pageInfo).
type Page[T any] struct {
	Nodes    []T
	PageInfo PageInfo
}

// PageInfo says where a page ends.
type PageInfo struct {
	// End is the opaque cursor of the page's last item; "" for an empty
	// page.
	End         string
	HasNextPage bool
}

// EndCursor is End, or nil for an empty page (GraphQL's pageInfo.endCursor).
func (p PageInfo) EndCursor() *string {
	if p.End == "" {
		return nil
	}
	return &p.End
}

// Pages of the lists that are not records.
type (
	// MemberPage is members, ordered by name.
	MemberPage = Page[Member]
	// ActivityPage is the activity log, newest first.
	ActivityPage = Page[ActivityEntry]
	// NotificationPage is notifications, newest first.
	NotificationPage = Page[Notification]
	// LoginEventPage is the login log, newest first.
	LoginEventPage = Page[LoginEvent]
)
