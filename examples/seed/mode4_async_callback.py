#coding:utf-8
 
import squall.web
import squall.httpserver
import squall.options
import squall.ioloop
 
from squall.options import options , define
define("port",default=8001,help="跑在8001",type=int)
 
import time
class SleepHandler(squall.web.RequestHandler):
    """
        将sleep.py的代码如上述一样改造，即在get()方法前面增加了装饰器@squall.web.asynchronous，它的作用在于将squall服务器本身默认的设置_auto_fininsh值修改为false。如果不用这个装饰器，客户端访问服务器的get()方法并得到返回值之后，两只之间的连接就断开了，但是用了@squall.web.asynchronous之后，这个连接就不关闭，直到执行了self.finish()才关闭这个连接。
        squall.ioloop.IOLoop.instance().add_timeout()也是一个实现异步的函数，time.time()+17是给前面函数提供一个参数，这样实现了相当于time.sleep(17)的功能，不过，还没有完成，当这个操作完成之后，就执行回调函数on_response()中的self.render(“sleep.html”)，并关闭连接self.finish()。 
        https://github.com/qiwsir/StarterLearningPython/blob/master/309.md
    """
    @squall.web.asynchronous
    def get(self):
        squall.ioloop.IOLoop.instance().add_timeout(time.time() + 5, callback=self.on_response)
 
    def on_response(self):
        self.write("this is SleepHandler...")
        self.finish()
 
 
class DirectHandler(squall.web.RequestHandler):
    def get(self):
        self.write("this is DirectHandler...")
 
if __name__ == "__main__":
    squall.options.parse_command_line()
    app = squall.web.Application(
        handlers = [
            (r"/d",DirectHandler),
            (r"/s",SleepHandler),
        ],
        debug = False
    )
    http_server = squall.httpserver.HTTPServer(app)
    http_server.bind(options.port)
    http_server.start(1)
    squall.ioloop.IOLoop.instance().start()
